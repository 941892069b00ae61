"""Staff roles. Ops add support engineers to «Операторы поддержки» instead of making them
superusers; the API and the admin check these model permissions."""

OPERATORS_GROUP = "Операторы поддержки"
OPERATOR_PERMISSIONS = {
    "ticket": ("view", "change"),
    "message": ("view",),
    "attachment": ("view",),
    "contact": ("view", "change"),
    "outboundemail": ("view",),
    "processingrun": ("view",),
    "mailboxstate": ("view",),
}


def operators_group_ensure(apps):
    """Create (or complete) the operators group. ``apps`` is a migration's registry or the
    global one; permissions must exist already."""
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name=OPERATORS_GROUP)
    codenames = [f"{action}_{model}" for model, actions in OPERATOR_PERMISSIONS.items() for action in actions]
    group.permissions.add(*Permission.objects.filter(content_type__app_label="tickets", codename__in=codenames))
    return group
