ALTER TABLE sales.orders.paid
  UNSET TBLPROPERTIES ('sluice.upkeep', 'sluice.upkeep');
