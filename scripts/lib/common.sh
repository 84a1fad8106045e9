# Shared by scripts/run, scripts/test and bench/run: install what is missing
# (Debian 12, as root) and build.  Source it; do not run it.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# What building, running and testing need, as Debian packages.
BUILD_PACKAGES="build-essential autoconf automake libtool pkg-config
 libfcgi-dev libmariadb-dev libjson-c-dev libcurl4-openssl-dev libssl-dev check
 libhpdf-dev"
# libjs-chart.js: Chart.js for the web pages (nginx serves it from /usr/share);
# python3-aiosmtpd: the dev stack's SMTP sink (tests/smtp_sink.py, var/mail/)
RUN_PACKAGES="mariadb-server mariadb-client nginx-light python3 openssl curl libjs-chart.js
 python3-aiosmtpd"
# galera-4, rsync and iproute2 for the Galera test; clang for fuzzing;
# chromium (driven by playwright-core from npm) for the browser tests
TEST_PACKAGES="valgrind poppler-utils galera-4 rsync iproute2 clang libclang-rt-14-dev wrk
 chromium"
# node and npm for the browser tests: Debian's only when none is on PATH (a
# NodeSource nodejs brings its own npm, which Debian's npm package conflicts with)
command -v node >/dev/null 2>&1 || TEST_PACKAGES="$TEST_PACKAGES nodejs"
command -v npm >/dev/null 2>&1 || TEST_PACKAGES="$TEST_PACKAGES npm"

missing_packages() {
	local p missing=""
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
			missing="$missing $p"
	done
	echo "$missing"
}

# install_packages PKG...: installs the ones that are not installed yet.
install_packages() {
	local missing
	missing=$(missing_packages "$@")
	[ -z "$missing" ] && return 0
	if [ "$(id -u)" != 0 ]; then
		echo "missing Debian packages:$missing (run as root to install them)" >&2
		return 1
	fi
	echo "installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	# policy-rc.d keeps the packaged mariadb/nginx services from starting:
	# the stack runs its own private instances
	local policy=/usr/sbin/policy-rc.d created_policy=""
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && created_policy=1
	fi
	apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing >/dev/null
	local rc=$?
	[ -n "$created_policy" ] && rm -f "$policy"
	return $rc
}

# build [configure flags...]: configures once (again when the flags change) and builds.
build() {
	local flags="$*" stamp="$ROOT/.configure-flags"
	cd "$ROOT" || return 1
	if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt configure ]; then
		autoreconf -fi >/dev/null || return 1
	fi
	if [ ! -f Makefile ] || [ "$(cat "$stamp" 2>/dev/null)" != "$flags" ] ||
		[ configure -nt Makefile ]; then
		./configure -q $flags || return 1
		# objects built with other flags (e.g. without sanitizers) must go
		make clean >/dev/null
		echo "$flags" >"$stamp"
	fi
	make -j"$(nproc)" >/dev/null || { make 2>&1 | tail -30; return 1; }
	# the Check programs too (an integration suite runs check_db_cache
	# against its database), without running them
	make -j"$(nproc)" check TESTS= >/dev/null ||
		{ make check TESTS= 2>&1 | tail -30; return 1; }
}
