# learning-contractsd: build, package and install.
#
#   make                     build the release binaries and generate the man pages and completions
#   make deb                 the above, then the Debian package in target/debian/ (needs cargo-deb)
#   make package             the Debian package from binaries already in $(BUILD_DIR), no build
#   make install DESTDIR=… PREFIX=…   install what `make` built (for distributions without .deb)
#
# Everything generated goes under $(BUILD_DIR)/assets/. Nothing here runs systemctl: after
# `make install` on a live system, run the commands README.md lists.

CARGO ?= cargo
CARGO_TARGET_DIR ?= target
export CARGO_TARGET_DIR
# cargo-deb reads the binaries and the assets from here ("target/release/" in Cargo.toml).
BUILD_DIR := $(CARGO_TARGET_DIR)/release
ASSETS := $(BUILD_DIR)/assets

PREFIX ?= /usr/local
DESTDIR ?=
BINDIR ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
DATADIR ?= $(PREFIX)/share
MANDIR ?= $(DATADIR)/man
DOCDIR ?= $(DATADIR)/doc/learning-contractsd
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
SYSCONFDIR ?= /etc
# dbus-daemon reads bus policies only from /usr/share/dbus-1/system.d and /etc/dbus-1/system.d,
# and polkitd reads actions and rules only under /usr/share/polkit-1 and /etc/polkit-1, whatever
# the prefix; activation files are found under /usr/local/share/dbus-1 too.
DBUS_POLICYDIR ?= /usr/share/dbus-1/system.d
DBUS_SERVICEDIR ?= $(DATADIR)/dbus-1/system-services
DBUS_INTERFACEDIR ?= $(DATADIR)/dbus-1/interfaces
POLKIT_ACTIONDIR ?= /usr/share/polkit-1/actions
POLKIT_RULESDIR ?= /usr/share/polkit-1/rules.d
BASH_COMPLETIONDIR ?= $(DATADIR)/bash-completion/completions
ZSH_COMPLETIONDIR ?= $(DATADIR)/zsh/vendor-completions
FISH_COMPLETIONDIR ?= $(DATADIR)/fish/vendor_completions.d

INSTALL ?= install

.PHONY: all build assets deb package install uninstall clean-assets

all: build
	$(MAKE) assets

build:
	$(CARGO) build --release --locked --workspace --bins

# Man pages and completions come from the binaries' own clap definitions.
assets: $(BUILD_DIR)/learning-contractsd $(BUILD_DIR)/contractctl
	mkdir -p $(ASSETS)
	$(BUILD_DIR)/learning-contractsd --man > $(ASSETS)/learning-contractsd.8
	$(BUILD_DIR)/contractctl man > $(ASSETS)/contractctl.1
	gzip -9nf $(ASSETS)/learning-contractsd.8 $(ASSETS)/contractctl.1
	$(BUILD_DIR)/contractctl completions bash > $(ASSETS)/contractctl.bash
	$(BUILD_DIR)/contractctl completions zsh > $(ASSETS)/_contractctl
	$(BUILD_DIR)/contractctl completions fish > $(ASSETS)/contractctl.fish

$(BUILD_DIR)/learning-contractsd $(BUILD_DIR)/contractctl:
	@echo "$@ is missing: run make (or cargo build --release --bins) first" >&2
	@exit 1

deb: build
	$(MAKE) package

package: assets
	$(CARGO) deb --no-build --fast --output $(CARGO_TARGET_DIR)/debian/

install: $(BUILD_DIR)/learning-contractsd $(BUILD_DIR)/contractctl
	@test -f $(ASSETS)/contractctl.1.gz || { echo "no man pages in $(ASSETS): run make first" >&2; exit 1; }
	$(INSTALL) -D -m 0755 $(BUILD_DIR)/learning-contractsd $(DESTDIR)$(SBINDIR)/learning-contractsd
	$(INSTALL) -D -m 0755 $(BUILD_DIR)/contractctl $(DESTDIR)$(BINDIR)/contractctl
	$(INSTALL) -d $(DESTDIR)$(SYSTEMDUNITDIR)
	sed 's|^ExecStart=/usr/sbin/learning-contractsd|ExecStart=$(SBINDIR)/learning-contractsd|' \
		systemd/learning-contractsd.service > $(DESTDIR)$(SYSTEMDUNITDIR)/learning-contractsd.service
	chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/learning-contractsd.service
	$(INSTALL) -D -m 0644 systemd/learning-contractsd.sysusers $(DESTDIR)$(SYSUSERSDIR)/learning-contractsd.conf
	$(INSTALL) -D -m 0644 dbus/org.learningcontracts.Daemon1.conf $(DESTDIR)$(DBUS_POLICYDIR)/org.learningcontracts.Daemon1.conf
	$(INSTALL) -D -m 0644 dbus/org.learningcontracts.Daemon1.service $(DESTDIR)$(DBUS_SERVICEDIR)/org.learningcontracts.Daemon1.service
	$(INSTALL) -d $(DESTDIR)$(DBUS_INTERFACEDIR)
	$(INSTALL) -m 0644 dbus/org.learningcontracts.*.xml $(DESTDIR)$(DBUS_INTERFACEDIR)/
	$(INSTALL) -D -m 0644 dbus/org.learningcontracts.policy $(DESTDIR)$(POLKIT_ACTIONDIR)/org.learningcontracts.policy
	$(INSTALL) -D -m 0644 dbus/learning-contractsd.rules $(DESTDIR)$(POLKIT_RULESDIR)/learning-contractsd.rules
	@# The configuration is the admin's: an existing one is never overwritten.
	test -e $(DESTDIR)$(SYSCONFDIR)/learning-contracts/daemon.toml || \
		$(INSTALL) -D -m 0644 config/daemon.toml $(DESTDIR)$(SYSCONFDIR)/learning-contracts/daemon.toml
	$(INSTALL) -D -m 0644 $(ASSETS)/learning-contractsd.8.gz $(DESTDIR)$(MANDIR)/man8/learning-contractsd.8.gz
	$(INSTALL) -D -m 0644 $(ASSETS)/contractctl.1.gz $(DESTDIR)$(MANDIR)/man1/contractctl.1.gz
	$(INSTALL) -D -m 0644 $(ASSETS)/contractctl.bash $(DESTDIR)$(BASH_COMPLETIONDIR)/contractctl
	$(INSTALL) -D -m 0644 $(ASSETS)/_contractctl $(DESTDIR)$(ZSH_COMPLETIONDIR)/_contractctl
	$(INSTALL) -D -m 0644 $(ASSETS)/contractctl.fish $(DESTDIR)$(FISH_COMPLETIONDIR)/contractctl.fish
	$(INSTALL) -D -m 0644 README.md $(DESTDIR)$(DOCDIR)/README.md

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/learning-contractsd $(DESTDIR)$(BINDIR)/contractctl \
		$(DESTDIR)$(SYSTEMDUNITDIR)/learning-contractsd.service \
		$(DESTDIR)$(SYSUSERSDIR)/learning-contractsd.conf \
		$(DESTDIR)$(DBUS_POLICYDIR)/org.learningcontracts.Daemon1.conf \
		$(DESTDIR)$(DBUS_SERVICEDIR)/org.learningcontracts.Daemon1.service \
		$(DESTDIR)$(DBUS_INTERFACEDIR)/org.learningcontracts.*.xml \
		$(DESTDIR)$(POLKIT_ACTIONDIR)/org.learningcontracts.policy \
		$(DESTDIR)$(POLKIT_RULESDIR)/learning-contractsd.rules \
		$(DESTDIR)$(MANDIR)/man8/learning-contractsd.8.gz $(DESTDIR)$(MANDIR)/man1/contractctl.1.gz \
		$(DESTDIR)$(BASH_COMPLETIONDIR)/contractctl $(DESTDIR)$(ZSH_COMPLETIONDIR)/_contractctl \
		$(DESTDIR)$(FISH_COMPLETIONDIR)/contractctl.fish
	rm -rf $(DESTDIR)$(DOCDIR)

clean-assets:
	rm -rf $(ASSETS)
