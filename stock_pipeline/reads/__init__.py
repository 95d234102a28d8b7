"""Reading the warehouse back the way research code does, offline: `universe` (the point-in-time universe of
a day), `pro_api` and `pro_bar` (answers identical to the official tushare client's), and the SQL views
(`daily_hfq`, `<statement>_latest`)."""
