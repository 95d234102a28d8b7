from stock_pipeline.defs.exports.assets import exports_defs

defs = exports_defs
