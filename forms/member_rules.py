"""Who counts as a co-resident family member (共同生活家庭成员), as data (DO-2, FAM-01, FAM-02).

Each rule set is one region's list: a rule has a stable code, the regulation's Chinese
text, whether it includes or excludes the person, and the checks the intake form applies
(relations it names, an age bound, whether evidence must be described, whether a person
without an identity number may be recorded). The intake form records, for every person,
the rule that includes or excludes them; nothing here decides eligibility (PR-3).

Baoji numbers its two lists "1." and "3." (there is no "2."): a drafting artefact kept in
the codes so they can be cited against the paper text.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field

#: relation to the first applicant (成员关系 / 与第一申请人关系): code -> (Chinese, sex implied or None)
RELATIONS: dict[str, tuple[str, str | None]] = {
    "self": ("本人（第一申请人）", None),
    "spouse": ("配偶", None),
    "son": ("儿子", "male"),
    "daughter": ("女儿", "female"),
    "adopted_child": ("养子女", None),
    "stepchild": ("继子女", None),
    "father": ("父亲", "male"),
    "mother": ("母亲", "female"),
    "adoptive_parent": ("养父母", None),
    "step_parent": ("继父母", None),
    "parent_in_law": ("配偶的父母", None),
    "grandparent": ("祖父母、外祖父母", None),
    "grandchild": ("孙子女、外孙子女", None),
    "elder_brother": ("哥哥", "male"),
    "elder_sister": ("姐姐", "female"),
    "younger_brother": ("弟弟", "male"),
    "younger_sister": ("妹妹", "female"),
    "child_in_law": ("儿媳、女婿", None),
    "other": ("其他", None),
}

#: legal duty of a support-duty person (法定赡养、抚养、扶养义务人) towards the household
DUTIES = {
    "elder_support": "赡养（子女对父母、孙子女对祖父母）",
    "child_support": "抚养（父母对子女、祖父母对孙子女）",
    "mutual_support": "扶养（夫妻之间、兄弟姐妹之间）",
}

CHILDREN = ("son", "daughter", "adopted_child", "stepchild")
PARENTS = ("father", "mother", "adoptive_parent", "step_parent", "parent_in_law")


@dataclass(frozen=True)
class MemberRule:
    """One inclusion or exclusion rule of a region's member list."""

    code: str
    #: True: the person counts as a co-resident member; False: the person does not
    included: bool
    #: short label for lists
    label: str
    #: the regulation's wording
    text: str
    #: where the rule comes from
    source: str
    #: the relations the rule names; empty = any relation
    relations: tuple[str, ...] = ()
    #: completed years of age on the intake date: at least / below
    min_age: int | None = None
    below_age: int | None = None
    #: the evidence (证明材料) must be described in the member's evidence note
    needs_evidence: bool = False
    #: the person may be recorded without an identity number (newborns not yet registered)
    id_optional: bool = False
    #: only for the first applicant (relation "self")
    applicant_only: bool = False


@dataclass(frozen=True)
class RuleSet:
    code: str
    name: str
    rules: tuple[MemberRule, ...] = field(default_factory=tuple)

    def get(self, code: str) -> MemberRule | None:
        return next((r for r in self.rules if r.code == code), None)


_BJ = "宝民发〔2020〕200号 第九条"

BAOJI_2020 = RuleSet("baoji_2020", "宝鸡市（宝民发〔2020〕200号）", (
    MemberRule("BJ9-APPLICANT", True, "第一申请人", "新申请或已经享受各类社会救助的家庭（个人）的第一申请人（户主）",
               f"{_BJ}（一）", relations=("self",), applicant_only=True),
    MemberRule("BJ9-IN-1", True, "夫妻及未婚子女", "夫妻双方及其未婚子女、养子女、继子女",
               f"{_BJ}（一）1.(1)", relations=("spouse", *CHILDREN)),
    MemberRule("BJ9-IN-2", True, "父母", "父母", f"{_BJ}（一）1.(2)", relations=PARENTS),
    MemberRule("BJ9-IN-3", True, "未成年弟妹", "父母双亡，与其共同生活在一起的未成年弟、妹",
               f"{_BJ}（一）1.(3)", relations=("younger_brother", "younger_sister"), below_age=18),
    MemberRule("BJ9-IN-4", True, "不能独立生活的成年未婚子女",
               "不能独立生活的成年未婚子女和因病因残无法维持正常生活的成年未婚子女，包括在校接受非义务教育阶段学历教育的成年子女"
               "（在外地就读期间，如户籍迁出，可视为共同生活成员）",
               f"{_BJ}（一）1.(4)", relations=CHILDREN, min_age=18),
    MemberRule("BJ9-IN-5", True, "阶段性在外务工人员",
               "具有法定赡养、抚养、扶养义务关系但未共同居住的阶段性在外务工人员",
               f"{_BJ}（一）1.(5)"),
    MemberRule("BJ9-IN-6", True, "现役军（警）官和士官", "现役军（警）官和士官", f"{_BJ}（一）1.(6)"),
    MemberRule("BJ9-IN-7", True, "未办户口的新生婴儿",
               "因特殊原因未办理户口登记，但有出生证明和村（居）民委员会证明的新生婴儿",
               f"{_BJ}（一）1.(7)", needs_evidence=True, id_optional=True),
    MemberRule("BJ9-IN-8", True, "复员退役及刑满释放等回家人员",
               "复员退役军人以及刑满释放、监外执行、保外就医回到家庭共同生活的人员", f"{_BJ}（一）1.(8)"),
    MemberRule("BJ9-EX-1", False, "义务兵", "在部队服役的义务兵", f"{_BJ}（一）3.(1)", needs_evidence=True),
    MemberRule("BJ9-EX-2", False, "宗教教职人员", "连续三年以上（含三年）脱离家庭独立生活的宗教教职人员",
               f"{_BJ}（一）3.(2)", needs_evidence=True),
    MemberRule("BJ9-EX-3", False, "服刑、强制戒毒人员", "在监狱服刑、戒毒所强制戒毒的人员", f"{_BJ}（一）3.(3)",
               needs_evidence=True),
    MemberRule("BJ9-EX-4", False, "成年未婚未与父母同住人员", "成年未婚未与父母共同生活居住的人员", f"{_BJ}（一）3.(4)",
               min_age=18),
    MemberRule("BJ9-EX-5", False, "户口未迁出的外嫁（婚）人员", "户口未迁出的外嫁（婚）人员", f"{_BJ}（一）3.(5)"),
    MemberRule("BJ9-EX-6", False, "下落不明或宣告失踪人员",
               "经镇（街）和村（居）核实，且在当地公安机关报案报警，下落不明满两年的或被宣告为失踪人员的",
               f"{_BJ}（一）3.(6)", needs_evidence=True),
    MemberRule("BJ9-EX-7", False, "享受孤儿待遇或特困供养人员", "享受孤儿待遇或特困供养的", f"{_BJ}（一）3.(7)",
               needs_evidence=True),
))

_NAT = "《最低生活保障审核确认办法》（民发〔2021〕57号）第七条"

NATIONAL_2021 = RuleSet("national_2021", "全国（民发〔2021〕57号）", (
    MemberRule("N7-APPLICANT", True, "申请人", "申请人本人", _NAT, relations=("self",), applicant_only=True),
    MemberRule("N7-IN-1", True, "配偶", "配偶", f"{_NAT}（一）", relations=("spouse",)),
    MemberRule("N7-IN-2", True, "未成年子女", "未成年子女", f"{_NAT}（二）", relations=CHILDREN, below_age=18),
    MemberRule("N7-IN-3", True, "不能独立生活的成年子女",
               "已成年但不能独立生活的子女，包括在校接受全日制本科及以下学历教育的子女",
               f"{_NAT}（三）", relations=CHILDREN, min_age=18),
    MemberRule("N7-IN-4", True, "长期共同居住的法定义务人",
               "其他具有法定赡养、扶养、抚养义务关系并长期共同居住的人员", f"{_NAT}（四）"),
    MemberRule("N7-EX-1", False, "宗教教职人员", "连续三年以上（含三年）脱离家庭独立生活的宗教教职人员",
               f"{_NAT}不计入（一）", needs_evidence=True),
    MemberRule("N7-EX-2", False, "服刑、强制隔离戒毒或宣告失踪人员",
               "在监狱内服刑、在戒毒所强制隔离戒毒或者宣告失踪人员",
               f"{_NAT}不计入（二）", needs_evidence=True),
    MemberRule("N7-EX-3", False, "省级民政部门规定的其他人员",
               "省级人民政府民政部门根据本条原则和有关程序认定的其他人员",
               f"{_NAT}不计入（三）", needs_evidence=True),
))

RULE_SETS: dict[str, RuleSet] = {rs.code: rs for rs in (BAOJI_2020, NATIONAL_2021)}
DEFAULT_RULE_SET = BAOJI_2020.code


def get_rule_set(code: str) -> RuleSet:
    """The rule set ``code`` (KeyError if unknown)."""
    return RULE_SETS[code]
