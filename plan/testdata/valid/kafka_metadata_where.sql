CREATE TABLE sales.eu.t AS SELECT id, KAFKA_OFFSET AS off FROM sales.eu.orders WHERE kafka_partition = 0 AND kafka_offset > 100 AND kafka_timestamp >= TIMESTAMP '2024-01-01 00:00:00';
