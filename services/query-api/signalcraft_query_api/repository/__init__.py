"""All of query-api's tables and SQL: `tables` (the schema), `projection` (read-model writes),
`read_queries` (what the read API selects) and `config` (the configuration rows this service owns)."""
