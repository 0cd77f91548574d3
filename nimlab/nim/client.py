"""Ask a running NIM which profile it serves, through the surface NVIDIA publishes.

The published /v1/metadata names the profile only by `selectedModelProfileId`. Its name and tags come from
matching that id against a profile list: on a real NIM the `list-model-profiles` output you record for the
hardware at deploy time; for the course NIM, its packaged manifest (what its `list-model-profiles` prints).
Every tool in this repository (lab status, the grader, the labs) asks through this one function, so none of
them depends on the course NIM's own metadata extension.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx

from nimlab.nim.manifest import Manifest, Profile, load_manifest


@dataclass(frozen=True)
class RunningProfile:
    id: str
    name: str | None  # None when the id is not in the profile list it was matched against
    tags: dict[str, str] = field(default_factory=dict, hash=False)
    profile: Profile | None = field(default=None, compare=False, hash=False, repr=False)  # the manifest's entry

    @property
    def hardware_specific(self) -> bool | None:
        """The manifest's answer (Profile.optimized), None when the id was not found in the list."""
        return None if self.profile is None else self.profile.optimized


def root(base_url: str) -> str:
    """http://host:port/v1 or http://host:port -> http://host:port"""
    return base_url.rstrip("/").removesuffix("/v1")


def running_profile(base_url: str, manifest: Manifest | None = None, timeout: float = 5.0) -> RunningProfile | None:
    """The profile the NIM at `base_url` runs, or None when it cannot be asked (not up, no metadata)."""
    try:
        meta = httpx.get(root(base_url) + "/v1/metadata", timeout=timeout).json()
        # 1.x-era references publish selectedModelProfileId; a 2.x LLM reference names it profile_id
        pid = str(meta.get("selectedModelProfileId") or meta["profile_id"])
    except (httpx.HTTPError, ValueError, KeyError, TypeError, AttributeError):
        return None
    found = (manifest or load_manifest()).find(pid)
    if found is None or found.id != pid:
        return RunningProfile(pid, None)
    return RunningProfile(pid, found.name, dict(found.tags), found)
