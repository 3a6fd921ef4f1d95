"""The new-entrustment wizard of the street office (街道（乡镇）经办人): 授权书, persons, scans, 委托书."""
