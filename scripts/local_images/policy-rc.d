#!/bin/sh
# No service starts while a package installs inside an image build.
exit 101
