CREATE TABLE sales.eu.t AS SELECT kafka_topic, kafka_partition, kafka_offset, kafka_timestamp, kafka_key, kafka_headers FROM sales.eu.orders;
