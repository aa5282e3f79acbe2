"""Model registry on MLflow: versions with champion/challenger aliases for risk and NLP models.

Exports load on first use (``workbench.exports``): the NLP loaders import
``registry.versions`` without pulling in the risk models.
"""

from typing import TYPE_CHECKING

from workbench.exports import lazy_exports

if TYPE_CHECKING:
    from workbench.registry.cards import model_card
    from workbench.registry.store import Registry
    from workbench.registry.versions import CHALLENGER, CHAMPION, ModelStore, RegistryError, code_version, registry_folder

__all__, __getattr__ = lazy_exports(__name__, {
    "workbench.registry.cards": ("model_card",),
    "workbench.registry.store": ("Registry",),
    "workbench.registry.versions": ("CHALLENGER", "CHAMPION", "ModelStore", "RegistryError", "code_version",
                                    "registry_folder"),
})
