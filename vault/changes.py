"""Temporary re-export: the change follower lives in :mod:`vault.replication`."""

from vault.replication import CHANNEL, ChangeFollower, FollowerStatus

__all__ = ["CHANNEL", "ChangeFollower", "FollowerStatus"]
