import io

from django.core import mail

from reports.backends import ConsoleSummaryBackend


def test_prints_one_line_per_message_and_counts_them_sent():
    stream = io.StringIO()
    connection = ConsoleSummaryBackend(stream=stream)
    alert = mail.EmailMultiAlternatives("Alert: Ada Tutor", "text", to=["lead@example.com"])
    alert.attach_alternative("<p>" + "long html " * 500 + "</p>", "text/html")
    digest = mail.EmailMessage("Daily digest", "text", to=["a@example.com", "b@example.com"])

    assert connection.send_messages([alert, digest]) == 2

    assert stream.getvalue().splitlines() == [
        "mail to lead@example.com: Alert: Ada Tutor",
        "mail to a@example.com, b@example.com: Daily digest",
    ]
