"""Standard interfaces to other systems: CDS Hooks, HL7 v2 monitor feeds (PCD-01 over MLLP) and
email."""
