"""Reading the warehouse back the way research code does: plain functions returning pandas DataFrames."""
