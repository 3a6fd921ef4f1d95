"""检查与部署 and the online modeler for process designers (blueprint ``designer_edit``)."""
