"""Model registry on MLflow: register training runs, aliases champion/challenger, load by alias."""

from workbench.registry.cards import model_card
from workbench.registry.store import CHALLENGER, CHAMPION, Registry, RegistryError, code_version, registry_folder

__all__ = ["CHALLENGER", "CHAMPION", "Registry", "RegistryError", "code_version", "model_card", "registry_folder"]
