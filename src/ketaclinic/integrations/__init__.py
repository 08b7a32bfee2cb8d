"""Standard interfaces to other systems: CDS Hooks (and later HL7 v2 monitor feeds, email)."""
