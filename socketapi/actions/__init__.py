"""Actions: request/response endpoints."""

from .base import Action, ActionRoute
from .function import FunctionAction, action_class

__all__ = ["Action", "ActionRoute", "FunctionAction", "action_class"]
