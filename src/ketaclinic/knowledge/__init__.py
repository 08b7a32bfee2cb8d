"""Clinical knowledge as data: pure functions over TOML tables with sources. No I/O but reading the tables."""
