CREATE STORE k WITH (
  'type' = 'kafka',
  'sasl.password' = 'hunter2'
)