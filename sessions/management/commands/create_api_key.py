from django.core.management.base import BaseCommand, CommandError

from sessions.models import ApiKey


class Command(BaseCommand):
    help = "Create a named API key for the platform and print the raw key once (only its hash is kept)."

    def add_arguments(self, parser):
        parser.add_argument("name", help="A unique name, e.g. the platform environment ('rails-production').")

    def handle(self, *args, name, **options):
        name = name.strip()
        if not name:
            raise CommandError("The key name must not be empty.")
        if ApiKey.objects.filter(name=name).exists():
            raise CommandError(f"An API key named {name!r} already exists; choose another name.")
        api_key, raw_key = ApiKey.create_key(name)
        # The raw key goes alone on stdout so scripts can capture it; the advice goes to stderr.
        self.stdout.write(raw_key)
        self.stderr.write(
            f"Created API key {api_key.name!r} ({api_key.prefix}…). It is shown only this once: "
            "store it in the platform's secrets now."
        )
