CREATE STORE kafka_prod WITH (
  'type' = 'kafka',
  'bootstrap.servers' = 'b1.kafka:9092,b2.kafka:9092',
  'security.protocol' = 'SASL_SSL',
  'sasl.mechanism' = 'SCRAM-SHA-512',
  'sasl.username' = 'sluice',
  'sasl.password' = 'env:KAFKA_PASSWORD',
  'schema.registry.url' = 'https://registry:8081'
);
CREATE STORE dev WITH ('type'='kafka', 'bootstrap.servers'='localhost:9092', 'sasl.password'='file:/run/secrets/kafka', 'retries'=5, 'tls'=TRUE);
DROP STORE dev;
DROP STORE IF EXISTS kafka_prod
