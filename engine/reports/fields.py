"""Chinese names for the fields sharing units return (the annex tables show them as returned, RPT-02).

Unknown fields keep their own name: an annex never drops what a source returned.
"""

from __future__ import annotations

from typing import Any

FIELD_NAMES: dict[str, str] = {
    "account_masked": "账户", "account_type": "账户类型", "currency": "币种", "balance": "余额",
    "interest_12m": "近12个月利息", "loan_type": "贷款类型", "principal": "贷款本金", "outstanding": "未还余额",
    "monthly_payment": "月还款额", "start_date": "起始日期", "product_name": "产品名称", "holding_value": "持有市值",
    "income_12m": "近12个月收益", "plate_masked": "号牌号码", "vehicle_type": "车辆类型", "brand": "品牌",
    "registered_on": "登记日期", "purchase_price": "购置价格", "estimated_value": "估值",
    "certificate_no": "不动产权证号", "location": "坐落", "usage": "用途", "area_m2": "建筑面积（㎡）",
    "share": "份额", "assessed_value": "评估价值", "annual_rent": "年租金", "entity_name": "名称",
    "entity_type": "类型", "role": "身份", "registered_capital": "注册资本", "share_ratio": "出资比例",
    "status": "状态", "established_on": "成立日期", "year": "年度", "income_type": "所得项目", "income": "收入额",
    "tax_paid": "已缴税款", "market_value": "市值", "dividends_12m": "近12个月分红", "policy_type": "险种",
    "annual_premium": "年缴保费", "cash_value": "现金价值", "policy_masked": "保单号", "account_status": "账户状态",
    "monthly_deposit": "月缴存额", "transaction": "交易类型", "contract_date": "合同日期", "price": "成交价格",
    "subscribed_capital": "认缴出资额", "business_name": "字号名称", "annual_turnover": "年营业额",
    "net_income": "经营净收入", "employer": "单位", "monthly_wage": "月工资", "annual_salary": "年工资",
    "post_type": "编制类型", "pension_type": "养老金类型", "monthly_amount": "月发放额",
    "insurance_type": "险种", "contribution_base": "缴费基数", "assistance_type": "救助类别", "since": "起始日期",
    "disability_type": "残疾类别", "grade": "等级", "school": "学校",
    "level": "学段", "subsidy_type": "补贴类型", "annual_amount": "年发放额", "trips_12m": "近12个月出境次数",
    "last_exit_on": "最近出境日期", "category": "类别", "monthly_allowance": "月补助", "licence": "证照",
    "ship_type": "船舶类型", "household_type": "户口性质", "relationship": "与户主关系", "address": "地址",
    "scheme": "参保险种",
}


def describe(record: dict[str, Any]) -> str:
    """One returned record as "名称：值；…" in the source's own field order."""
    return "；".join(f"{FIELD_NAMES.get(k, k)}：{v}" for k, v in record.items() if v not in (None, ""))
