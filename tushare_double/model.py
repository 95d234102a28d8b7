"""The double's own description of the real Tushare Pro service: one declarative model per API it serves.

Built from the Tushare documentation and recorded real answers, never from the pipeline's declarations, so a
wrong assumption in the pipeline fails a test instead of being mirrored here. Source keys used below:
- REF §n: /work/shared/reference/tushare-api.md, section n (doc pages DOC-n are tushare.pro/document/2?doc_id=n);
- REAL file: /work/shared/real-answers/<file> (recorded real answers);
- #n: github.com/waditu/tushare issue n;
- OA: licai918/openalpha-cn src/openalpha_cn/providers/tushare.py, live measurements of 2026-08 quoted there;
- XZ: the 2026 "Tushare接口文档" series on developer.aliyun.com (tested by its author), e.g. article 1750491.
Field specs use the notation of REF §4: a bare name is a float, `:s` a string, `:i` an integer, and a trailing
`*` marks a field that is not in the default output (returned only when asked for in `fields`).
"""

from dataclasses import dataclass, replace
from datetime import date, time
from typing import Literal

FieldKind = Literal["str", "float", "int"]
KIND_SUFFIXES: dict[str, FieldKind] = {"s": "str", "i": "int"}


@dataclass(frozen=True)
class Field:
    name: str
    kind: FieldKind
    # In the answer when the call names no `fields`.
    default: bool


def parse_fields(spec: str) -> tuple[Field, ...]:
    """`"ts_code:s close fullname*:s"` -> fields; the notation of REF §4."""
    parsed = []
    for token in spec.split():
        name, _, suffix = token.partition(":")
        parsed.append(Field(name.rstrip("*"), KIND_SUFFIXES.get(suffix, "float"), not name.endswith("*")))
    return tuple(parsed)


@dataclass(frozen=True)
class ApiModel:
    name: str
    fields: tuple[Field, ...]
    # Rows one call returns at most; the rest is silently cut (the oldest rows, since answers are newest first).
    row_cap: int
    # Points a token needs to call the API at all.
    min_points: int
    # Answer order: (field, descending) keys, most significant first.
    order: tuple[tuple[str, bool], ...]
    # Groups of parameters of which at least one must be given, else the call is refused.
    required_params: tuple[tuple[str, ...], ...] = ()
    # The field that the `start_date`/`end_date` parameters filter.
    date_filter: str | None = None
    # The first date the service has data for, in `history_field`; None where no source says.
    history_start: date | None = None
    history_field: str | None = None
    # Asia/Shanghai time of day from which day T's rows are served, and on which day after T.
    published_at: time | None = None
    published_days_after: int = 0
    # Several comma-joined `ts_code`s answer code 0 with no rows instead of the union.
    multi_code_answers_empty: bool = False

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(field.name for field in self.fields)

    @property
    def default_field_names(self) -> tuple[str, ...]:
        return tuple(field.name for field in self.fields if field.default)


NEWEST_TRADE_DATE_FIRST = (("trade_date", True), ("ts_code", False))
# Statements: newest report period first, then newest announcement (REF §5 "Ordering", DOC-33/79 samples).
NEWEST_REPORT_FIRST = (("end_date", True), ("ann_date", True), ("ts_code", False))
# The SSE's first trading day. trade_cal starts there (#814: the whole calendar was 1990-12-19 onwards). Market data:
# a maintainer wrote "Tushare provides market data from 1991-04-05" (#1152, about 000001.SZ), while OA measured
# 000001.SZ adj_factor rows from 1991-04-03 and #764 shows daily_basic rows in early 1991: no source gives one date
# per dataset, so the earliest plausible one is declared (a later one would hide data that exists).
FIRST_TRADING_DAY = date(1990, 12, 19)
# OA: 000001.SZ balancesheet reaches back to report period 1989-12-31; not documented for the other statements,
# so the same (earliest) period is declared for all four.
FIRST_REPORT_PERIOD = date(1989, 12, 31)
# REF §5 "Timing" (XZ): statements are loaded "财报披露当晚21点更新，最晚次日"; fina_indicator "T+1入库".
STATEMENT_PUBLISHED_AT = time(21, 0)

INCOME_FIELDS = (
    "ts_code:s ann_date:s f_ann_date:s end_date:s report_type:s comp_type:s end_type:s basic_eps diluted_eps "
    "total_revenue revenue int_income prem_earned comm_income n_commis_income n_oth_income n_oth_b_income "
    "prem_income out_prem une_prem_reser reins_income n_sec_tb_income n_sec_uw_income n_asset_mg_income "
    "oth_b_income fv_value_chg_gain invest_income ass_invest_income forex_gain total_cogs oper_cost int_exp "
    "comm_exp biz_tax_surchg sell_exp admin_exp fin_exp assets_impair_loss prem_refund compens_payout "
    "reser_insur_liab div_payt reins_exp oper_exp compens_payout_refu insur_reser_refu reins_cost_refund "
    "other_bus_cost operate_profit non_oper_income non_oper_exp nca_disploss total_profit income_tax n_income "
    "n_income_attr_p minority_gain oth_compr_income t_compr_income compr_inc_attr_p compr_inc_attr_m_s ebit "
    "ebitda insurance_exp undist_profit distable_profit rd_exp fin_exp_int_exp fin_exp_int_inc "
    "transfer_surplus_rese transfer_housing_imprest transfer_oth adj_lossgain withdra_legal_surplus "
    "withdra_legal_pubfund withdra_biz_devfund withdra_rese_fund withdra_oth_ersu workers_welfare "
    "distr_profit_shrhder prfshare_payable_dvd comshare_payable_dvd capit_comstock_div "
    "net_after_nr_lp_correct* credit_impa_loss* net_expo_hedging_benefits* oth_impair_loss_assets* "
    "total_opcost* amodcost_fin_assets* oth_income* asset_disp_income* continued_net_profit* end_net_profit* "
    "update_flag:s "
)
BALANCESHEET_FIELDS = (
    "ts_code:s ann_date:s f_ann_date:s end_date:s report_type:s comp_type:s end_type:s total_share cap_rese "
    "undistr_porfit surplus_rese special_rese money_cap trad_asset notes_receiv accounts_receiv oth_receiv "
    "prepayment div_receiv int_receiv inventories amor_exp nca_within_1y sett_rsrv loanto_oth_bank_fi "
    "premium_receiv reinsur_receiv reinsur_res_receiv pur_resale_fa oth_cur_assets total_cur_assets "
    "fa_avail_for_sale htm_invest lt_eqt_invest invest_real_estate time_deposits oth_assets lt_rec fix_assets "
    "cip const_materials fixed_assets_disp produc_bio_assets oil_and_gas_assets intan_assets r_and_d goodwill "
    "lt_amor_exp defer_tax_assets decr_in_disbur oth_nca total_nca cash_reser_cb depos_in_oth_bfi prec_metals "
    "deriv_assets rr_reins_une_prem rr_reins_outstd_cla rr_reins_lins_liab rr_reins_lthins_liab refund_depos "
    "ph_pledge_loans refund_cap_depos indep_acct_assets client_depos client_prov transac_seat_fee "
    "invest_as_receiv total_assets lt_borr st_borr cb_borr depos_ib_deposits loan_oth_bank trading_fl "
    "notes_payable acct_payable adv_receipts sold_for_repur_fa comm_payable payroll_payable taxes_payable "
    "int_payable div_payable oth_payable acc_exp deferred_inc st_bonds_payable payable_to_reinsurer "
    "rsrv_insur_cont acting_trading_sec acting_uw_sec non_cur_liab_due_1y oth_cur_liab total_cur_liab "
    "bond_payable lt_payable specific_payables estimated_liab defer_tax_liab defer_inc_non_cur_liab oth_ncl "
    "total_ncl depos_oth_bfi deriv_liab depos agency_bus_liab oth_liab prem_receiv_adva depos_received "
    "ph_invest reser_une_prem reser_outstd_claims reser_lins_liab reser_lthins_liab indept_acc_liab "
    "pledge_borr indem_payable policy_div_payable total_liab treasury_share ordin_risk_reser forex_differ "
    "invest_loss_unconf minority_int total_hldr_eqy_exc_min_int total_hldr_eqy_inc_min_int "
    "total_liab_hldr_eqy lt_payroll_payable oth_comp_income oth_eqt_tools oth_eqt_tools_p_shr lending_funds "
    "acc_receivable st_fin_payable payables hfs_assets hfs_sales cost_fin_assets fair_value_fin_assets "
    "cip_total oth_pay_total long_pay_total debt_invest oth_debt_invest oth_eq_invest* oth_illiq_fin_assets* "
    "oth_eq_ppbond* receiv_financing* use_right_assets* lease_liab* contract_assets contract_liab "
    "accounts_receiv_bill accounts_pay oth_rcv_total fix_assets_total update_flag:s "
)
CASHFLOW_FIELDS = (
    "ts_code:s ann_date:s f_ann_date:s end_date:s comp_type:s report_type:s end_type:s net_profit finan_exp "
    "c_fr_sale_sg recp_tax_rends n_depos_incr_fi n_incr_loans_cb n_inc_borr_oth_fi prem_fr_orig_contr "
    "n_incr_insured_dep n_reinsur_prem n_incr_disp_tfa ifc_cash_incr n_incr_disp_faas n_incr_loans_oth_bank "
    "n_cap_incr_repur c_fr_oth_operate_a c_inf_fr_operate_a c_paid_goods_s c_paid_to_for_empl "
    "c_paid_for_taxes n_incr_clt_loan_adv n_incr_dep_cbob c_pay_claims_orig_inco pay_handling_chrg "
    "pay_comm_insur_plcy oth_cash_pay_oper_act st_cash_out_act n_cashflow_act oth_recp_ral_inv_act "
    "c_disp_withdrwl_invest c_recp_return_invest n_recp_disp_fiolta n_recp_disp_sobu stot_inflows_inv_act "
    "c_pay_acq_const_fiolta c_paid_invest n_disp_subs_oth_biz oth_pay_ral_inv_act n_incr_pledge_loan "
    "stot_out_inv_act n_cashflow_inv_act c_recp_borrow proc_issue_bonds oth_cash_recp_ral_fnc_act "
    "stot_cash_in_fnc_act free_cashflow c_prepay_amt_borr c_pay_dist_dpcp_int_exp incl_dvd_profit_paid_sc_ms "
    "oth_cashpay_ral_fnc_act stot_cashout_fnc_act n_cash_flows_fnc_act eff_fx_flu_cash n_incr_cash_cash_equ "
    "c_cash_equ_beg_period c_cash_equ_end_period c_recp_cap_contrib incl_cash_rec_saims uncon_invest_loss "
    "prov_depr_assets depr_fa_coga_dpba amort_intang_assets lt_amort_deferred_exp decr_deferred_exp "
    "incr_acc_exp loss_disp_fiolta loss_scr_fa loss_fv_chg invest_loss decr_def_inc_tax_assets "
    "incr_def_inc_tax_liab decr_inventories decr_oper_payable incr_oper_payable others "
    "im_net_cashflow_oper_act conv_debt_into_cap conv_copbonds_due_within_1y fa_fnc_leases im_n_incr_cash_equ "
    "net_dism_capital_add net_cash_rece_sec credit_impa_loss use_right_asset_dep oth_loss_asset end_bal_cash "
    "beg_bal_cash end_bal_cash_equ beg_bal_cash_equ update_flag:s "
)
FINA_INDICATOR_FIELDS = (
    "ts_code:s ann_date:s end_date:s eps dt_eps total_revenue_ps revenue_ps capital_rese_ps surplus_rese_ps "
    "undist_profit_ps extra_item profit_dedt gross_margin current_ratio quick_ratio cash_ratio invturn_days* "
    "arturn_days* inv_turn* ar_turn ca_turn fa_turn assets_turn op_income valuechange_income* interst_income* "
    "daa* ebit ebitda fcff fcfe current_exint noncurrent_exint interestdebt netdebt tangible_asset "
    "working_capital networking_capital invest_capital retained_earnings diluted2_eps bps ocfps retainedps "
    "cfps ebit_ps fcff_ps fcfe_ps netprofit_margin grossprofit_margin cogs_of_sales expense_of_sales "
    "profit_to_gr saleexp_to_gr adminexp_of_gr finaexp_of_gr impai_ttm gc_of_gr op_of_gr ebit_of_gr roe "
    "roe_waa roe_dt roa npta roic roe_yearly roa2_yearly roe_avg* opincome_of_ebt* investincome_of_ebt* "
    "n_op_profit_of_ebt* tax_to_ebt* dtprofit_to_profit* salescash_to_or* ocf_to_or* ocf_to_opincome* "
    "capitalized_to_da* debt_to_assets assets_to_eqt dp_assets_to_eqt ca_to_assets nca_to_assets "
    "tbassets_to_totalassets int_to_talcap eqt_to_talcapital currentdebt_to_debt longdeb_to_debt "
    "ocf_to_shortdebt debt_to_eqt eqt_to_debt eqt_to_interestdebt tangibleasset_to_debt tangasset_to_intdebt "
    "tangibleasset_to_netdebt ocf_to_debt ocf_to_interestdebt* ocf_to_netdebt* ebit_to_interest* "
    "longdebt_to_workingcapital* ebitda_to_debt* turn_days roa_yearly roa_dp fixed_assets profit_prefin_exp* "
    "non_op_profit* op_to_ebt* nop_to_ebt* ocf_to_profit* cash_to_liqdebt* cash_to_liqdebt_withinterest* "
    "op_to_liqdebt* op_to_debt* roic_yearly* total_fa_trun* profit_to_op q_opincome* q_investincome* "
    "q_dtprofit* q_eps* q_netprofit_margin* q_gsprofit_margin* q_exp_to_sales* q_profit_to_gr* "
    "q_saleexp_to_gr q_adminexp_to_gr* q_finaexp_to_gr* q_impair_to_gr_ttm* q_gc_to_gr q_op_to_gr* q_roe "
    "q_dt_roe q_npta q_opincome_to_ebt* q_investincome_to_ebt* q_dtprofit_to_profit* q_salescash_to_or* "
    "q_ocf_to_sales q_ocf_to_or* basic_eps_yoy dt_eps_yoy cfps_yoy op_yoy ebt_yoy netprofit_yoy "
    "dt_netprofit_yoy ocf_yoy roe_yoy bps_yoy assets_yoy eqt_yoy tr_yoy or_yoy q_gr_yoy* q_gr_qoq* "
    "q_sales_yoy q_sales_qoq* q_op_yoy* q_op_qoq q_profit_yoy* q_profit_qoq* q_netprofit_yoy* "
    "q_netprofit_qoq* equity_yoy rd_exp* update_flag*:s "
)


TRADE_CAL = ApiModel(
    name="trade_cal",
    # REF §4.2 / DOC-26; is_open is a JSON integer in the real payload (REAL trade_cal_doc40_http.json).
    fields=parse_fields("exchange:s cal_date:s is_open:i pretrade_date:s"),
    # Not documented: 10000 rows was the cap in 2018 (#814). In 2026 the whole calendar (13,162 SSE rows) came in
    # one call with has_more false (OA): switch `trade_cal_uncapped`.
    row_cap=10000,
    min_points=2000,  # REF §3.2 (doc 2025)
    order=(("cal_date", True),),  # descending since ~2023-02 (#1691)
    date_filter="cal_date",
    history_start=FIRST_TRADING_DAY,
    history_field="cal_date",
)
STOCK_BASIC = ApiModel(
    name="stock_basic",
    fields=parse_fields(
        "ts_code:s symbol:s name:s area:s industry:s fullname*:s enname*:s cnspell:s market:s exchange*:s "
        "curr_type*:s list_status*:s list_date:s delist_date*:s is_hs*:s act_name:s act_ent_type:s"
    ),  # REF §4.1 / DOC-25
    # Not documented ("调取一次就可以拉取完", DOC-25); OA measured more than 5,878 rows in one call. Declared low.
    row_cap=6000,
    min_points=2000,
    order=(("ts_code", False),),  # REF §4.1 samples
)
DAILY = ApiModel(
    name="daily",
    # REF §4.3; ah_vol/ah_amount (after-hours fixed-price trades) exist from 2026-07-06 only (XZ).
    fields=parse_fields(
        "ts_code:s trade_date:s open high low close pre_close change pct_chg vol amount ah_vol* ah_amount*"
    ),
    row_cap=6000,  # DOC-27, XZ; OA measured exactly 6,000
    min_points=120,
    order=NEWEST_TRADE_DATE_FIRST,
    date_filter="trade_date",
    history_start=FIRST_TRADING_DAY,
    history_field="trade_date",
    # DOC-27 "15点～16点之间入库", DOC-108 table "15点～17点", XZ 2026 "16:00-17:00": the latest is taken.
    published_at=time(17, 0),
)
ADJ_FACTOR = ApiModel(
    name="adj_factor",
    fields=parse_fields("ts_code:s trade_date:s adj_factor"),  # REF §4.4 / DOC-28
    row_cap=6000,  # not documented; OA measured exactly 6,000
    min_points=2000,
    order=NEWEST_TRADE_DATE_FIRST,
    date_filter="trade_date",
    history_start=FIRST_TRADING_DAY,
    history_field="trade_date",
    published_at=time(9, 30),  # DOC-28 (2025): "早上9点30分"; older doc 9:15-9:20
)
DAILY_BASIC = ApiModel(
    name="daily_basic",
    fields=parse_fields(
        "ts_code:s trade_date:s close turnover_rate turnover_rate_f volume_ratio pe pe_ttm pb ps ps_ttm dv_ratio "
        "dv_ttm total_share float_share free_share total_mv circ_mv limit_status*:i"
    ),  # REF §4.5 / DOC-32; limit_status is a 2026 addition (XZ)
    row_cap=6000,  # DOC-32 "单次请求最大返回6000条"
    min_points=2000,
    order=NEWEST_TRADE_DATE_FIRST,
    required_params=(("ts_code", "trade_date"),),  # "二选一" (DOC-32, XZ: "两者至少要传一个")
    date_filter="trade_date",
    history_start=FIRST_TRADING_DAY,
    history_field="trade_date",
    # DOC-32 and DOC-108: "15点～17点"; XZ 2026 saw 17-19h, which no official page says.
    published_at=time(17, 0),
)


def _statement(name: str, spec: str, row_cap: int, date_filter: str, **timing) -> ApiModel:
    return ApiModel(
        name=name,
        fields=parse_fields(spec),
        row_cap=row_cap,
        min_points=2000,  # REF §3.2
        order=NEWEST_REPORT_FIRST,
        required_params=(("ts_code",),),  # "只能按单只股票获取" (DOC-33/36/44/79); #798
        date_filter=date_filter,
        history_start=FIRST_REPORT_PERIOD,
        history_field="end_date",
        **timing,
    )


# start_date/end_date filter the announcement date on income/balancesheet/cashflow and the report period on
# fina_indicator (REF §5; DOC-33/36/44 vs DOC-79; confirmed live by OA). Several comma-joined codes answer nothing
# on income/balancesheet/cashflow, while fina_indicator answers both stocks' rows (OA, 2026-08-09).
INCOME = replace(
    _statement("income", INCOME_FIELDS, 500, "ann_date", published_at=STATEMENT_PUBLISHED_AT),
    multi_code_answers_empty=True,
)  # cap: XZ "单次请求最大返回500行" (not on tushare.pro); OA measured 127 rows in one call
BALANCESHEET = replace(
    _statement("balancesheet", BALANCESHEET_FIELDS, 100, "ann_date", published_at=STATEMENT_PUBLISHED_AT),
    multi_code_answers_empty=True,
)  # cap: XZ 100; OA measured exactly 100 whatever the limit
CASHFLOW = replace(
    _statement("cashflow", CASHFLOW_FIELDS, 100, "ann_date", published_at=STATEMENT_PUBLISHED_AT),
    multi_code_answers_empty=True,
)  # cap: XZ 100 (OA saw 90 rows in one call, so at least that)
FINA_INDICATOR = _statement(
    "fina_indicator", FINA_INDICATOR_FIELDS, 100, "end_date", published_at=time(0, 0), published_days_after=1
)  # cap: DOC-79 "每次请求最多返回100条记录"; OA measured exactly 100
STATEMENTS = (INCOME, BALANCESHEET, CASHFLOW, FINA_INDICATOR)


def _vip(statement: ApiModel) -> ApiModel:
    """The whole-market variant: same parameters and outputs, 5000 points, `period` or `ts_code` (DOC-33 提示)."""
    return replace(
        statement,
        name=f"{statement.name}_vip",
        min_points=5000,
        # Not documented. OA saw 7,558 fina_indicator_vip rows for one period in one call; declared low.
        row_cap=5000,
        required_params=(("period", "ts_code"),),
    )


DISCLOSURE_DATE = ApiModel(
    name="disclosure_date",
    fields=parse_fields("ts_code:s ann_date:s end_date:s pre_date:s actual_date:s modify_date*:s"),  # DOC-162
    row_cap=3000,  # DOC-162
    min_points=2000,  # DOC-162 says 500, the permission table 2000: the higher is taken
    order=(("pre_date", False), ("ts_code", False)),  # REAL disclosure_date_doc162_sample.json: pre_date ascending
    required_params=(("end_date",),),
)


# -- the datasets of issue 10: suspensions, limits, names, dividends, indexes, industries --------------------------
# Sources beyond the key above: XZ-suspend_d (developer.aliyun.com/article/1758228), XZ-namechange (1754358),
# XZ-dividend (1750997), XZ-index_basic (1750083), XZ-index_daily (1750043); DOC-n pages as crawled 2025-08-09
# (zizhi258/TradingAgents-CN 接口文档/index_<n+2>.md). "Undocumented" marks a choice the double makes.

SUSPEND_D = ApiModel(
    name="suspend_d",
    # REF §4.6 / DOC-214: all four fields default; suspend_timing is null for a whole-day suspension.
    fields=parse_fields("ts_code:s trade_date:s suspend_timing:s suspend_type:s"),
    row_cap=5000,  # XZ-suspend_d "单次请求最大返回5000行"; not on tushare.pro
    min_points=2000,  # XZ-suspend_d "2000积分:200次/分钟"; REF §3.2: not stated by tushare.pro
    # DOC-214 sample (S only) is in code order; XZ-suspend_d's whole-market day lists the R row before the S rows.
    order=(("trade_date", True), ("suspend_type", False), ("ts_code", False)),
    date_filter="trade_date",  # no parameter is required (DOC-214: all N)
    # Undocumented ("数据开始" not given); the earliest plausible date is declared.
    history_start=FIRST_TRADING_DAY,
    history_field="trade_date",
    # DOC-214 "更新时间：不定期"; XZ: announced future suspensions appear ahead. Undocumented, so day T's rows are
    # served from 17:00 (with daily, whose missing rows they explain), never earlier.
    published_at=time(17, 0),
)
STK_LIMIT = ApiModel(
    name="stk_limit",
    fields=parse_fields("trade_date:s ts_code:s pre_close* up_limit down_limit"),  # REF §4.7 / DOC-183 (this order)
    row_cap=5800,  # DOC-183 "单次最多提取5800条记录"
    min_points=2000,  # DOC-183, DOC-108
    order=NEWEST_TRADE_DATE_FIRST,  # DOC-183 sample: one date, code order
    date_filter="trade_date",
    # Undocumented; price limits exist from 1996-12-16 (REF §6.4), so no earlier row can exist.
    history_start=date(1996, 12, 16),
    history_field="trade_date",
    published_at=time(9, 0),  # DOC-183 "8点40左右", DOC-108 table "交易日9点": the later is taken
)
NAMECHANGE = ApiModel(
    name="namechange",
    fields=parse_fields("ts_code:s name:s start_date:s end_date:s ann_date:s change_reason:s"),  # REF §4.8 / DOC-100
    row_cap=10000,  # #1858 (2026), XZ-namechange "单次请求最大返回10000行"
    # Undocumented (DOC-100 and DOC-108 say nothing; XZ-namechange's permission line is empty): the stock_basic
    # level, 2000, is declared.
    min_points=2000,
    # DOC-100 sample (one stock): newest start_date first. Whole-market order undocumented: newest announcement first,
    # rows without ann_date last.
    order=(("ann_date", True), ("ts_code", False), ("start_date", True)),
    # start_date/end_date filter ann_date (DOC-100 "公告开始/结束日期", XZ-namechange); rows with a null ann_date are
    # dropped when a date filter is given (#1858).
    date_filter="ann_date",
    # Rows appear when announced; the time of day is undocumented: 21:00, as statements.
    published_at=time(21, 0),
)
DIVIDEND = ApiModel(
    name="dividend",
    fields=parse_fields(
        "ts_code:s end_date:s ann_date:s div_proc:s stk_div stk_bo_rate stk_co_rate cash_div cash_div_tax "
        "record_date:s ex_date:s pay_date:s div_listdate:s imp_ann_date:s base_date*:s base_share*"
    ),  # DOC-103, XZ-dividend
    row_cap=2000,  # XZ-dividend "单次请求最大返回2000行"; not on tushare.pro
    min_points=2000,  # DOC-103 "至少2000积分"
    # Undocumented: the DOC-103 sample is in no date order. Newest report period, then newest plan, then code; the
    # stages of one event as 实施, 股东大会通过, 预案.
    order=(("end_date", True), ("ann_date", True), ("ts_code", False)),
    # "以上参数至少有一个不能为空" (DOC-103); XZ-dividend adds end_date to the parameters.
    required_params=(("ts_code", "ann_date", "record_date", "ex_date", "imp_ann_date", "end_date"),),
    # XZ-dividend "数据最早2000/01/01", yet the DOC-103 sample has 1995 ex-dates: the earliest plausible is declared.
    history_start=FIRST_TRADING_DAY,
    # A stage's row appears on its announcement day; the time is undocumented: 21:00, as statements.
    published_at=time(21, 0),
)
INDEX_BASIC = ApiModel(
    name="index_basic",
    # DOC-94 lists no default flags; XZ-index_basic: fullname, index_type, weight_rule, desc, exp_date are N.
    fields=parse_fields(
        "ts_code:s name:s fullname*:s market:s publisher:s index_type*:s category:s base_date:s base_point "
        "list_date:s weight_rule*:s desc*:s exp_date*:s"
    ),
    row_cap=8000,  # XZ-index_basic "单次请求最大返回8000行" (CSI alone has more than 8000 indexes)
    min_points=2000,  # DOC-108, XZ-index_basic
    # Undocumented (samples by code within a market); by code.
    order=(("ts_code", False),),
)
INDEX_DAILY = ApiModel(
    name="index_daily",
    fields=parse_fields(
        "ts_code:s trade_date:s close open high low pre_close change pct_chg vol amount"
    ),  # DOC-95 (no default flags: XZ-index_daily marks all Y)
    row_cap=8000,  # DOC-95 "单次调取最多取8000行记录"
    min_points=2000,  # DOC-95, DOC-108
    order=NEWEST_TRADE_DATE_FIRST,  # DOC-95 sample
    required_params=(("ts_code",),),  # DOC-95 ts_code "Y"
    date_filter="trade_date",
    history_start=FIRST_TRADING_DAY,  # 000001.SH's base day; each index starts at its own base date
    history_field="trade_date",
    # DOC-108 "交易日15点～17点更新", XZ-index_daily "每天9:00和19:00更新": the latest, 19:00.
    published_at=time(19, 0),
)
INDEX_WEIGHT = ApiModel(
    name="index_weight",
    fields=parse_fields("index_code:s con_code:s trade_date:s weight"),  # DOC-96
    row_cap=6000,  # undocumented; declared as daily's
    min_points=2000,  # DOC-96 (2025; the 2019 SDK comment said 400)
    order=(("trade_date", True), ("con_code", False)),  # DOC-96 sample: one date, code order
    required_params=(("index_code",),),  # DOC-96 index_code "Y"
    date_filter="trade_date",
    history_start=FIRST_TRADING_DAY,
    history_field="trade_date",
    # "月度数据" (DOC-96); when a month's weights appear is undocumented: the day after its trade_date.
    published_at=time(0, 0),
    published_days_after=1,
)
INDEX_CLASSIFY = ApiModel(
    name="index_classify",
    # DOC-181, in this order
    fields=parse_fields("index_code:s industry_name:s parent_code:s level:s industry_code:s is_pub:s src*:s"),
    row_cap=2000,  # undocumented (SW2021 has 511 rows); declared as index_member_all's
    min_points=2000,  # DOC-181, DOC-108
    order=(("industry_code", False),),  # a real SW2021 L1 answer (Data-Copilot SW2021_industry_L1.csv) is by code
)
INDEX_MEMBER_ALL = ApiModel(
    name="index_member_all",
    fields=parse_fields(
        "l1_code:s l1_name:s l2_code:s l2_name:s l3_code:s l3_name:s ts_code:s name:s in_date:s out_date:s is_new:s"
    ),  # DOC-335
    row_cap=2000,  # DOC-335 "单次最大2000行"
    min_points=2000,  # DOC-335
    # Undocumented: the DOC-335 sample is in no visible order. By stock, then newest membership first.
    order=(("ts_code", False), ("in_date", True)),
)
ISSUE_10_MODELS = (
    SUSPEND_D,
    STK_LIMIT,
    NAMECHANGE,
    DIVIDEND,
    INDEX_BASIC,
    INDEX_DAILY,
    INDEX_WEIGHT,
    INDEX_CLASSIFY,
    INDEX_MEMBER_ALL,
)

API_MODELS: dict[str, ApiModel] = {
    model.name: model
    for model in (
        *(TRADE_CAL, STOCK_BASIC, DAILY, ADJ_FACTOR, DAILY_BASIC, *STATEMENTS, DISCLOSURE_DATE),
        *ISSUE_10_MODELS,
    )
} | {f"{statement.name}_vip": _vip(statement) for statement in STATEMENTS}
STATEMENT_APIS = frozenset(statement.name for statement in STATEMENTS) | {f"{s.name}_vip" for s in STATEMENTS}

# -- access: points, limits, error answers --------------------------------------------------------------------------

# Calls per minute per API by points tier (DOC-290, REF §3.1).
TIER_CALLS_PER_MINUTE = ((10000, 1000), (5000, 500), (2000, 200), (120, 50))
DOC_LINK = "https://tushare.pro/document/1?doc_id=108"
CODE_BAD_TOKEN = 40101  # REAL err_bad_token.json
CODE_BAD_PARAMS = 40101  # REAL err_ts_code_required_2021.json
CODE_REFUSED = 40203  # permission and rate limits (REF §2.2; OA measured 40203 for the 2026 rate limit)
CODE_UNKNOWN_API = -1  # REAL err_unknown_api_2026.json
CODE_SERVER_BUSY = 50101
MSG_BAD_TOKEN = "您的token不对，请确认。"
MSG_UNKNOWN_API = "请指定正确的接口名"
MSG_NO_PERMISSION = "抱歉，您没有接口({api})访问权限，权限的具体详情访问：" + DOC_LINK + "。"  # #1879 (2025-26)
MSG_SERVER_BUSY = "服务器错误(数据库异常)，请稍后再试！期待您能把错误反馈给我们，谢谢！"  # #1745, #1751 (2024)
# Verbatim for ts_code (#1492); the service's text for the other required parameters is not documented.
MSG_PARAM_REQUIRED = "{param} required"
# Rate-limit texts by wording and window. classic/minute: #845, #1229, REAL err_rate_limit_minute_2025.json.
# classic/day: #1846 (2026) quotes "抱歉，您每天最多访问该接口2次"; the tail is as in third-party fixtures and the
# minute text. 2026/day: #1871 verbatim (us_daily, 5次/天). 2026/minute: the same sentence with 次/分钟, verbatim
# in several third-party fixtures (e.g. "抱歉，您访问接口(daily)频率超限(50次/分钟)，具体频次详情：..."). The code of a
# per-day refusal is not documented; 40203, the per-minute code, is assumed.
RATE_LIMIT_MESSAGES = {
    ("classic", "minute"): "抱歉，您每分钟最多访问该接口{limit}次，权限的具体详情访问：" + DOC_LINK + "。",
    ("classic", "day"): "抱歉，您每天最多访问该接口{limit}次，权限的具体详情访问：" + DOC_LINK + "。",
    ("2026", "minute"): "抱歉，您访问接口({api})频率超限({limit}次/分钟)，具体频次详情：" + DOC_LINK + "。",
    ("2026", "day"): "抱歉，您访问接口({api})频率超限({limit}次/天)，具体频次详情：" + DOC_LINK + "。",
}
# The 2026 envelope (REAL daily_live_20000104_abridged.json): a dashed uuid request_id and `data.count` = -1
# (OA read 0 on the responses it measured). A top-level `"detail": ""` appears in one third-party description
# (REF §1.3) and in no recorded answer: its place is a guess.
COUNT_2026 = -1
