CREATE TABLE sales.eu.keys WITH ('kms.key' = 'arn:aws:kms:eu-west-1:111122223333:key/abc')
AS SELECT CAST(id AS STRING) AS id_text, kafka_key, kafka_topic FROM orders WHERE id >= 10 OR customer = 'vip';
