"""HL7 FHIR R4: importing bundles into clinic records, the REST API (read, search, create and
update), and Bulk Data export."""
