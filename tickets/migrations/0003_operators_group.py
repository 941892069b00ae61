"""The «Операторы поддержки» group (see tickets/roles.py)."""

from django.db import migrations

from tickets.roles import OPERATORS_GROUP, operators_group_ensure


def create_group(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    # Permissions are normally created after all migrations; this one needs them now. The
    # migration's app config is a stub without models_module, which create_permissions checks.
    app_config = apps.get_app_config("tickets")
    app_config.models_module = True
    create_permissions(app_config, verbosity=0, apps=apps)
    app_config.models_module = None
    operators_group_ensure(apps)


def remove_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=OPERATORS_GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("tickets", "0002_search_indexes"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_group, remove_group)]
