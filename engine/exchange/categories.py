"""The DX-8 data categories and the classes their answers are normalised into (shared vocabulary).

:data:`CATEGORIES` names what each information-sharing department provides; the synthetic
registry (``engine.exchange.registry``) answers in these categories, and the normalisation
(``engine.exchange.normalise``) maps their raw fields to :data:`INCOME_CATEGORIES` (annual
amounts) and :data:`PROPERTY_CLASSES` (values; ``debts`` is a liability).
"""

from __future__ import annotations

#: code -> (Chinese label, providing department) — DX-8
CATEGORIES: dict[str, tuple[str, str]] = {
    "assistance_records": ("社会救助记录", "民政"), "marriage": ("婚姻登记", "民政"),
    "veterans": ("优抚安置", "民政"), "funerals": ("殡葬火化", "民政"),
    "education": ("学籍信息", "教育"),
    "household_registration": ("户籍信息", "公安"), "vehicles": ("机动车登记", "公安"),
    "exit_entry": ("出入境记录", "公安"),
    "state_payroll": ("财政供养人员工资", "财政"),
    "employment": ("就业登记", "人力资源社会保障"), "pensions": ("养老金发放", "人力资源社会保障"),
    "social_insurance": ("社会保险参保", "人力资源社会保障"),
    "real_estate": ("不动产登记", "自然资源（不动产登记）"),
    "housing_transactions": ("房屋交易", "住房和城乡建设"), "housing_fund": ("住房公积金", "住房公积金管理"),
    "transport_licences": ("道路运输证照", "交通运输"), "ships": ("船舶登记", "交通运输"),
    "agricultural_subsidies": ("农业补贴", "农业农村"), "forestry_loans": ("林权抵押贷款", "林业"),
    "medical_insurance": ("医疗保险", "卫生健康/医疗保障"), "family_planning": ("计划生育奖扶", "卫生健康"),
    "tax": ("纳税记录", "税务"), "sole_proprietors": ("个体工商户纳税", "税务"),
    "business_registration": ("市场主体登记", "市场监督管理"), "shareholdings": ("股权出资", "市场监督管理"),
    "civil_service": ("机构编制", "机构编制"), "disability": ("残疾人证", "残疾人联合会"),
    "deposits": ("存款", "银行"), "loans": ("贷款", "银行"), "wealth_products": ("理财产品", "银行"),
    "securities": ("证券", "证券公司"), "commercial_insurance": ("商业保险", "保险公司"),
}
INCOME_CATEGORIES = {"wage": "工资性收入", "business_net": "经营净收入", "property_net": "财产净收入",
                     "transfer_net": "转移净收入", "other": "其他收入"}
PROPERTY_CLASSES = {"deposits": "存款", "securities": "有价证券", "wealth_products": "理财产品",
                    "commercial_insurance": "商业保险", "vehicles": "车辆", "real_estate": "不动产",
                    "housing_fund": "公积金", "market_entities": "市场主体", "other_assets": "其他财产",
                    "debts": "债务"}
STATUS_LABELS = {"has_data": "有数据", "no_record": "无记录"}
