"""My inbox (我的待办) and the task page: claim, release and complete human tasks in the browser."""
