-- The local stack's Kafka, as the store `kafka` that the pipelines read
-- (testdata/pipelines/orders.sql, and a user's own files). Applied by the
-- init service before the pipelines folder.
CREATE STORE IF NOT EXISTS kafka WITH (
  'type' = 'kafka',
  'bootstrap.servers' = 'kafka:19092'
);
