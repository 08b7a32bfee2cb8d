"""The clinic network, its sites and their treatment chairs."""
