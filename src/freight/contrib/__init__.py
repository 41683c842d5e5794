"""Framework integrations: :mod:`freight.contrib.django` and :mod:`freight.contrib.flask`."""
