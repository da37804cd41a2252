"""A remote on this machine is served by a git our push or fetch starts as its child: it
gets the runner's cache bounds on its command line (`git_base.serving`), and no other
remote's server is told anything."""

from __future__ import annotations

from remediate.adapters.git_base import SERVERS, bounded_env, on_this_machine, serving


def test_which_urls_git_reaches_through_its_local_transport() -> None:
    assert on_this_machine("/srv/git/repo.git")
    assert on_this_machine("../repo.git")
    assert on_this_machine("file:///srv/git/repo.git")
    assert on_this_machine("./a:b")  # a slash before the colon: a path
    assert not on_this_machine("git@github.com:org/repo.git")  # scp-like ssh
    assert not on_this_machine("ssh://git@host/repo.git")
    assert not on_this_machine("https://github.com/org/repo.git")


def test_only_remotes_on_this_machine_that_set_nothing_themselves_get_bounded_servers() -> None:
    config = "\n".join(
        [
            "remote.origin.url /srv/git/repo.git",
            "remote.origin.fetch +refs/heads/*:refs/remotes/origin/*",
            "remote.hub.url git@github.com:org/repo.git",
            "remote.mixed.url /srv/git/repo.git",
            "remote.mixed.pushurl git@github.com:org/repo.git",
            "remote.own.url /srv/git/repo.git",
            "remote.own.receivepack /opt/git/bin/git-receive-pack",
        ]
    )
    assert serving(config) == {
        "remote.origin.receivepack": SERVERS["receivepack"],
        "remote.origin.uploadpack": SERVERS["uploadpack"],
        "remote.mixed.uploadpack": SERVERS["uploadpack"],  # it pushes over ssh
        "remote.own.uploadpack": SERVERS["uploadpack"],
    }
    assert SERVERS["receivepack"] == (
        "git -c core.deltaBaseCacheLimit=8m -c core.packedGitLimit=32m "
        "-c core.packedGitWindowSize=4m receive-pack"
    )


def test_the_settings_come_after_the_environment_s_own() -> None:
    env = bounded_env({"GIT_CONFIG_COUNT": "1"}, "remote.origin.url /r.git")
    assert env["GIT_CONFIG_COUNT"] == "6"
    assert env["GIT_CONFIG_KEY_4"] == "remote.origin.receivepack"
    assert env["GIT_CONFIG_KEY_5"] == "remote.origin.uploadpack"
    assert "GIT_CONFIG_KEY_0" not in env
