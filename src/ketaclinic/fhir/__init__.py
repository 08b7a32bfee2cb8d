"""HL7 FHIR R4: reading bundles into clinic records (and, later, the REST face)."""
