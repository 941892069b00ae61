from rest_framework.permissions import DjangoModelPermissions

_VIEW = "%(app_label)s.view_%(model_name)s"
_CHANGE = "%(app_label)s.change_%(model_name)s"


class StaffModelPermissions(DjangoModelPermissions):
    """Staff with the model's permission: "view" to read, "change" to edit or act (reply,
    regenerate a draft). Being staff alone gives no access to customers' mail."""

    perms_map = {
        "GET": [_VIEW],
        "HEAD": [_VIEW],
        "OPTIONS": [],
        "POST": [_CHANGE],  # every POST here is an action on an existing ticket
        "PATCH": [_CHANGE],
        # PUT and DELETE are not offered: DRF answers 405 for methods missing here.
    }

    def has_permission(self, request, view):
        return bool(request.user and request.user.is_staff) and super().has_permission(request, view)
