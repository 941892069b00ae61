"""django-filter filter sets for the ticket and contact lists."""

import django_filters
from django.contrib.auth import get_user_model

from tickets import selectors
from tickets.models import Contact, Ticket


class TicketFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=Ticket.Status.choices, help_text="Repeat for several.")
    sentiment = django_filters.MultipleChoiceFilter(choices=Ticket.Sentiment.choices)
    priority = django_filters.MultipleChoiceFilter(choices=Ticket.Priority.choices)
    intent = django_filters.CharFilter()
    device_type = django_filters.CharFilter(lookup_expr="iexact")
    device_serial = django_filters.CharFilter(lookup_expr="iexact")
    processed = django_filters.BooleanFilter()
    is_auto = django_filters.BooleanFilter()
    open = django_filters.BooleanFilter(method="filter_open", help_text="true: waiting for staff; false: the others.")
    assignee = django_filters.ModelChoiceFilter(queryset=get_user_model().objects.filter(is_staff=True))
    unassigned = django_filters.BooleanFilter(field_name="assignee", lookup_expr="isnull")
    contact = django_filters.NumberFilter(field_name="contact_id")
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    search = django_filters.CharFilter(method="filter_search", help_text="Same as q.")
    q = django_filters.CharFilter(method="filter_search", help_text=(
        "Full-text search (Russian morphology) over subject, mails, names, company, device; exact match for "
        "ticket number, serial number, phone and e-mail."))

    class Meta:
        model = Ticket
        fields = []

    def filter_open(self, queryset, name, value):
        if value is None:
            return queryset
        if value:
            return queryset.filter(status__in=selectors.OPEN_STATUSES)
        return queryset.exclude(status__in=selectors.OPEN_STATUSES)

    def filter_search(self, queryset, name, value):
        return selectors.ticket_search(queryset, value)


class ContactFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="filter_search", help_text="E-mail, name, company or phone (substring).")

    class Meta:
        model = Contact
        fields = ["company"]

    def filter_search(self, queryset, name, value):
        from django.db.models import Q

        value = value.strip()[:200]
        if not value:
            return queryset
        return queryset.filter(Q(email__icontains=value) | Q(name__icontains=value) | Q(company__icontains=value)
                               | Q(phone__icontains=value))
