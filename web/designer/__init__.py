"""流程定义 pages: deployed process definitions, their versions, comparisons and rollback (designer tools)."""
