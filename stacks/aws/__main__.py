"""Pulumi program: a hybridctl box, set up with `pulumi config` (see stacks/README.md)."""

from hybridctl.deploy.pulumi.pulumi_project import run

stack = run("aws")
