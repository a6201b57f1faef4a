# scripts/lib/rig.sh builds, starts and stops the real servers Dropp runs
# against. It is the one copy of the build steps: scripts/test and
# scripts/bench source it for ensure_* and export_rig_bins (the Go tests
# start the servers themselves); scripts that drive a built dropp binary
# (scripts/soak) also start them with it. Sourcing it only defines
# functions and variables. Then:
#
#   ensure_testrig; ensure_versitygw; ensure_openapicheck; ensure_pebble   # build into .cache/bin when stale or missing
#   ensure_documentdb              # FerretDB 2 + DocumentDB (root or sudo): .cache/documentdb
#   export_rig_bins                # DROPP_*_BIN for go test
#   rig_init                       # RIG_DIR: a fresh directory; every server is stopped on exit
#   start_postgres                 # PG_URL, or status 1 when PostgreSQL cannot run here
#   start_ferretdb PORT -postgresql "$PG_URL"    (or: start_ferretdb PORT -dir DIR)   # MONGO_URI
#   start_documentdb PORT          # PostgreSQL 15 + DocumentDB + FerretDB 2: PG_URL, MONGO_URI
#   start_versitygw PORT DIR       # S3_ENDPOINT; credentials in RIG_S3_ACCESS_KEY/RIG_S3_SECRET_KEY
#   create_bucket NAME
#
# Each server runs in the background with its log in RIG_DIR/NAME.log and its
# process id in RIG_DIR/NAME.pid, which is where a fault-injecting driver
# finds it. start_ferretdb may be called again (also from another shell with
# the same RIG_DIR) to restart FerretDB after it was killed. Everything
# listens on 127.0.0.1 only.

rig_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
rig_bin="$rig_root/.cache/bin"
rig_versitygw_version=v1.8.0
RIG_S3_ACCESS_KEY=${RIG_S3_ACCESS_KEY:-droppsoakaccess}
RIG_S3_SECRET_KEY=${RIG_S3_SECRET_KEY:-droppsoaksecretkey0123456789}
RIG_S3_REGION=us-east-1

rig_step() { printf '==> %s\n' "$*" >&2; }

# rig_init makes RIG_DIR and arms the clean-up. The directory is world-
# readable so that PostgreSQL, run as its own user, can reach its data inside.
rig_init() {
	RIG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/dropp-rig.XXXXXX")
	chmod 755 "$RIG_DIR"
	trap rig_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

# rig_cleanup stops every server started through rig_spawn, newest first,
# by its recorded process id: SIGCONT first (a driver may have stopped it),
# then its stop signal, then SIGKILL after 10 s. Logs are kept next to
# RIG_DIR when the script fails, else everything is removed.
rig_cleanup() {
	local status=$? name pid
	trap - EXIT INT TERM
	set +e # stop everything whatever fails on the way
	if [[ -f $RIG_DIR/order ]]; then
		for name in $(tac "$RIG_DIR/order"); do
			pid=$(cat "$RIG_DIR/$name.pid" 2>/dev/null) || continue
			rig_stop "$pid" "$(cat "$RIG_DIR/$name.stopsig" 2>/dev/null || echo TERM)"
		done
	fi
	if [[ $status -ne 0 ]]; then
		mkdir -p "$RIG_DIR.logs"
		find "$RIG_DIR" -maxdepth 3 -name '*.log' -exec cp {} "$RIG_DIR.logs/" \;
		rig_step "failed (status $status); logs kept in $RIG_DIR.logs"
	fi
	rm -rf "$RIG_DIR"
	exit "$status"
}

# rig_alive reports whether a process runs (a zombie does not count).
rig_alive() {
	local state
	[[ -r /proc/$1/stat ]] || return 1
	state=$(sed 's/^.*) //; s/ .*//' "/proc/$1/stat" 2>/dev/null) || return 1
	[[ -n $state && $state != Z ]]
}

# rig_stop stops one process and waits for it, at most 10 s before SIGKILL.
rig_stop() {
	local pid=$1 sig=$2 i
	rig_alive "$pid" || { wait "$pid" 2>/dev/null; return 0; }
	kill -CONT "$pid" 2>/dev/null
	kill "-$sig" "$pid" 2>/dev/null
	for ((i = 0; i < 100; i++)); do
		rig_alive "$pid" || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}

# rig_spawn NAME CMD... runs CMD in the background, appending its output to
# RIG_DIR/NAME.log, and records its process id for rig_cleanup.
rig_spawn() {
	local name=$1
	shift
	"$@" >>"$RIG_DIR/$name.log" 2>&1 </dev/null &
	echo $! >"$RIG_DIR/$name.pid"
	disown $! # a fault driver's SIGKILL is no news to report

	grep -qx "$name" "$RIG_DIR/order" 2>/dev/null || echo "$name" >>"$RIG_DIR/order"
}

# free_port prints a loopback TCP port nothing listens on, and that no
# earlier call handed out. It draws below the kernel's ephemeral range
# (ip_local_port_range), from which every outgoing connection of the machine
# takes its local port: a port found free there could be taken by one
# before the server binds it.
free_port() {
	local port i lo=32768
	read -r lo _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
	((lo > 11024)) || lo=61000 # a range that starts low: draw from a fixed band instead
	for ((i = 0; i < 200; i++)); do
		port=$((10000 + (RANDOM << 15 | RANDOM) % (lo - 10000))) # one RANDOM stops at 32767
		grep -qx "$port" "$RIG_DIR/ports" 2>/dev/null && continue
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			echo "$port" >>"$RIG_DIR/ports"
			echo "$port"
			return 0
		fi
	done
	echo "free_port: no free port found" >&2
	return 1
}

# rig_wait_log NAME FROM PATTERN SECONDS waits until NAME's log, past byte
# FROM, has a line matching PATTERN; it fails early when NAME exits.
rig_wait_log() {
	local name=$1 from=$2 pattern=$3 i
	for ((i = 0; i < $4 * 10; i++)); do
		if tail -c "+$((from + 1))" "$RIG_DIR/$name.log" | grep -q -- "$pattern"; then
			return 0
		fi
		rig_alive "$(cat "$RIG_DIR/$name.pid")" || break
		sleep 0.1
	done
	echo "$name did not start; its log:" >&2
	tail -n 20 "$RIG_DIR/$name.log" >&2
	return 1
}

# ensure_testrig builds .cache/bin/testrig (FerretDB), again whenever any
# file of the testrig module is newer than the binary, so an edit to
# testrig/ is never tested against a stale build.
ensure_testrig() { rig_build_module testrig "testrig (FerretDB)"; }

# ensure_openapicheck builds .cache/bin/openapicheck, the OpenAPI checker the
# OpenAPI tests run, rebuilt like testrig.
ensure_openapicheck() { rig_build_module openapicheck "openapicheck (the OpenAPI checker)"; }

# rig_build_module MODULE WHAT builds the module in directory MODULE into
# .cache/bin/MODULE unless the binary is newer than every file of MODULE.
rig_build_module() {
	local module=$1
	if [[ -x $rig_bin/$module && -z $(find "$rig_root/$module" -type f -newer "$rig_bin/$module" -print -quit) ]]; then
		return
	fi
	rig_step "building .cache/bin/$2"
	mkdir -p "$rig_bin"
	(cd "$rig_root/$module" && go build -o "$rig_bin/$module" .)
}

# ensure_pebble builds Pebble, Let's Encrypt's ACME test server, and its
# DNS server pebble-challtestsrv (the HTTPS tests' CA) from their own
# module, testrig/pebble, rebuilt when any of its files is newer than the
# binaries.
ensure_pebble() {
	if [[ -x $rig_bin/pebble && -x $rig_bin/pebble-challtestsrv && -z $(find "$rig_root/testrig/pebble" -type f -newer "$rig_bin/pebble" -print -quit) ]]; then
		return
	fi
	rig_step "building .cache/bin/pebble and pebble-challtestsrv (ACME test CA)"
	mkdir -p "$rig_bin"
	(cd "$rig_root/testrig/pebble" && go build -o "$rig_bin/" github.com/letsencrypt/pebble/v2/cmd/pebble github.com/letsencrypt/pebble/v2/cmd/pebble-challtestsrv)
}

# as_root runs a command as root, through sudo when we are not root. Only
# apt installs (and the extensions ensure_documentdb puts into PostgreSQL's
# own directories) need it.
as_root() {
	if [[ $(id -u) -eq 0 ]]; then
		"$@"
	elif command -v sudo >/dev/null; then
		sudo "$@"
	else
		echo "need root (or sudo) to run: $*" >&2
		return 1
	fi
}

# The third engine, one that plans with indexes like MongoDB: FerretDB 2 on
# Debian's PostgreSQL 15 with Microsoft's DocumentDB extension, built from
# the sources and script kept in testrig/documentdb (DROPP_DOCUMENTDB_SRC to use others).
rig_documentdb_base="$rig_root/.cache/documentdb"
rig_documentdb_src=${DROPP_DOCUMENTDB_SRC:-$rig_root/testrig/documentdb}
rig_pg15_bin=/usr/lib/postgresql/15/bin

# ensure_documentdb builds it when FerretDB 2 is not in .cache/documentdb/bin
# or the extension is not installed in PostgreSQL 15 (a cold build takes
# about 3 minutes on 2 cores; a cached one costs nothing).
ensure_documentdb() {
	if [[ -x $rig_documentdb_base/bin/ferretdb && -f /usr/lib/postgresql/15/lib/pg_documentdb.so && -x $rig_pg15_bin/postgres ]]; then
		return
	fi
	if [[ ! -f $rig_documentdb_src/build.sh ]]; then
		echo "ensure_documentdb: no $rig_documentdb_src/build.sh (set DROPP_DOCUMENTDB_SRC)" >&2
		return 1
	fi
	rig_step "building FerretDB 2 + PostgreSQL 15 + DocumentDB into .cache/documentdb (about 3 minutes)"
	mkdir -p "$rig_documentdb_base"
	as_root env PATH="$PATH" HOME="$HOME" bash "$rig_documentdb_src/build.sh" "$rig_documentdb_base"
}

# ensure_versitygw installs versitygw into .cache/bin when missing.
ensure_versitygw() {
	if [[ -x $rig_bin/versitygw ]]; then
		return
	fi
	rig_step "installing versitygw $rig_versitygw_version into .cache/bin (about a minute)"
	mkdir -p "$rig_bin"
	GOBIN="$rig_bin" go install "github.com/versity/versitygw/cmd/versitygw@$rig_versitygw_version"
}

# export_rig_bins points the Go tests at the servers in .cache/bin, by
# absolute path, so tests in any package directory find the same ones.
export_rig_bins() {
	export DROPP_TESTRIG_BIN="$rig_bin/testrig" DROPP_VERSITYGW_BIN="$rig_bin/versitygw" DROPP_OPENAPICHECK_BIN="$rig_bin/openapicheck"
	export DROPP_PEBBLE_BIN="$rig_bin/pebble" DROPP_CHALLTESTSRV_BIN="$rig_bin/pebble-challtestsrv"
	# Only once built (ensure_documentdb): the tests then run the store
	# suites on it too, and in CI they fail without it.
	if [[ -x $rig_documentdb_base/bin/ferretdb ]]; then
		export DROPP_DOCUMENTDB_BIN="$rig_documentdb_base/bin/ferretdb" DROPP_PG15_BIN="$rig_pg15_bin"
	fi
}

# start_postgres starts a throwaway PostgreSQL (initdb into RIG_DIR) on a
# free loopback port, its socket inside RIG_DIR, and sets PG_URL. As root it
# runs as the postgres user. synchronous_commit=off acknowledges a commit
# before its WAL is flushed (within 0.2 s), like MongoDB's default write
# concern, which does not wait for the journal. Status 1, with nothing left running, when
# PostgreSQL is not installed or cannot start here.
start_postgres() {
	local bindir=${PG_BINDIR:-/usr/local/bin} dir="$RIG_DIR/postgres" port
	local as=()
	[[ -x $bindir/initdb && -x $bindir/pg_ctl && -x $bindir/postgres ]] || return 1
	if [[ $(id -u) -eq 0 ]]; then
		id postgres >/dev/null 2>&1 && command -v runuser >/dev/null || return 1
		as=(runuser -u postgres --)
	fi
	port=$(free_port) || return 1
	mkdir -p "$dir"
	if [[ ${#as[@]} -gt 0 ]]; then
		chown postgres: "$dir"
	fi
	"${as[@]}" "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C \
		>>"$RIG_DIR/postgres.log" 2>&1 || return 1
	"${as[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
		-o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c synchronous_commit=off" start >>"$RIG_DIR/postgres.log" 2>&1 || return 1
	head -n 1 "$dir/data/postmaster.pid" >"$RIG_DIR/postgres.pid"
	echo INT >"$RIG_DIR/postgres.stopsig" # fast shutdown: do not wait for clients
	grep -qx postgres "$RIG_DIR/order" 2>/dev/null || echo postgres >>"$RIG_DIR/order"
	PG_URL="postgres://postgres@127.0.0.1:$port/postgres"
}

# start_ferretdb PORT ARGS... starts FerretDB (.cache/bin/testrig ARGS) on
# 127.0.0.1:PORT and waits until it accepts connections; sets MONGO_URI.
start_ferretdb() {
	local port=$1 from
	shift
	from=$(stat -c %s "$RIG_DIR/ferretdb.log" 2>/dev/null || echo 0)
	rig_spawn ferretdb "$rig_bin/testrig" -listen "127.0.0.1:$port" "$@"
	rig_wait_log ferretdb "$from" '^ready ' 60 || return 1
	MONGO_URI="mongodb://127.0.0.1:$port/"
}

# start_documentdb PORT starts the engine that plans like MongoDB for a
# script that drives a built dropp (scripts/loadbench -engine documentdb):
# a throwaway PostgreSQL 15 cluster with the DocumentDB extension created,
# then FerretDB 2 (ensure_documentdb) on it on 127.0.0.1:PORT. The cluster
# is set up as the Go tests' (startDocDBPostgres in
# rig_documentdb_linux_test.go): same initdb options, and its
# postgresql.conf gets the lines of docDBPostgresConf, read from that file
# so that there is one copy of them. As root PostgreSQL runs as the postgres
# user. The process ids go where start_postgres and start_ferretdb put
# theirs (RIG_DIR/postgres.pid: the postmaster; RIG_DIR/ferretdb.pid), so
# whatever counts or stops those counts or stops these; sets PG_URL and
# MONGO_URI (the shape the Go tests hand dropp).
start_documentdb() {
	local port=$1 dir="$RIG_DIR/documentdb" pg_port conf i
	local as=()
	conf=$(sed -n '/^const docDBPostgresConf = `$/,/^`$/p' "$rig_root/rig_documentdb_linux_test.go" | sed '1d;$d')
	if [[ -z $conf ]]; then
		echo "start_documentdb: no docDBPostgresConf in rig_documentdb_linux_test.go" >&2
		return 1
	fi
	if [[ $(id -u) -eq 0 ]]; then
		id postgres >/dev/null 2>&1 && command -v runuser >/dev/null || {
			echo "start_documentdb: PostgreSQL refuses to run as root and there is no postgres user" >&2
			return 1
		}
		as=(runuser -u postgres --)
	fi
	mkdir -p "$dir/ferretdb-state"
	# A port free_port found free may be taken before PostgreSQL binds it
	# (other jobs of the machine start servers too): then a new cluster on
	# another port, at most 3 times.
	for ((i = 0; ; i++)); do
		pg_port=$(free_port) || return 1
		rm -rf "$dir/pg" && mkdir -p "$dir/pg"
		chmod 700 "$dir/pg"
		if [[ ${#as[@]} -gt 0 ]]; then
			chown postgres: "$dir" "$dir/pg"
		fi
		"${as[@]}" "$rig_pg15_bin/initdb" -D "$dir/pg" -U postgres -A trust -E UTF8 --locale=C.UTF-8 \
			>>"$RIG_DIR/postgres.log" 2>&1 || return 1
		# shellcheck disable=SC2059 # the Go harness's Fprintf format: %d the port, %s the socket directory
		printf "\n$conf\n" "$pg_port" "$dir/pg" >>"$dir/pg/postgresql.conf"
		"${as[@]}" "$rig_pg15_bin/pg_ctl" -D "$dir/pg" -l "$dir/postgres.log" -w -t 60 start >>"$RIG_DIR/postgres.log" 2>&1 && break
		if ((i == 2)) || ! grep -q 'could not bind' "$dir/postgres.log"; then
			tail -n 20 "$dir/postgres.log" >&2
			return 1
		fi
		rm -f "$dir/postgres.log"
	done
	head -n 1 "$dir/pg/postmaster.pid" >"$RIG_DIR/postgres.pid"
	echo INT >"$RIG_DIR/postgres.stopsig" # fast shutdown: do not wait for clients
	grep -qx postgres "$RIG_DIR/order" 2>/dev/null || echo postgres >>"$RIG_DIR/order"
	PG_URL="postgres://postgres@127.0.0.1:$pg_port/postgres"
	"$rig_pg15_bin/psql" "$PG_URL" -v ON_ERROR_STOP=1 -qAt -c 'CREATE EXTENSION IF NOT EXISTS documentdb CASCADE' \
		>>"$RIG_DIR/postgres.log" 2>&1 || {
		echo "start_documentdb: CREATE EXTENSION documentdb failed:" >&2
		tail -n 20 "$RIG_DIR/postgres.log" "$dir/postgres.log" >&2
		return 1
	}
	# FerretDB 2 too may find its port taken (then another, at most 3 times).
	local try from
	for ((try = 0; try < 3; try++)); do
		((try == 0)) || port=$(free_port) || return 1
		from=$(stat -c %s "$RIG_DIR/ferretdb.log" 2>/dev/null || echo 0)
		rig_spawn ferretdb env DO_NOT_TRACK=1 "$rig_documentdb_base/bin/ferretdb" --postgresql-url="$PG_URL" \
			--listen-addr="127.0.0.1:$port" --debug-addr="127.0.0.1:$(free_port)" --no-auth --telemetry=disable \
			--state-dir="$dir/ferretdb-state" --log-level=warn
		for ((i = 0; i < 600; i++)); do
			if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
				MONGO_URI="mongodb://127.0.0.1:$port/"
				return 0
			fi
			rig_alive "$(cat "$RIG_DIR/ferretdb.pid")" || break
			sleep 0.1
		done
		tail -c "+$((from + 1))" "$RIG_DIR/ferretdb.log" | grep -q 'address already in use' || break
	done
	echo "FerretDB 2 did not start; its log:" >&2
	tail -n 20 "$RIG_DIR/ferretdb.log" >&2
	return 1
}

# start_versitygw PORT DIR starts versitygw (posix backend in DIR) with the
# RIG_S3_* credentials and waits until it answers; sets S3_ENDPOINT.
start_versitygw() {
	local port=$1 dir=$2 i
	mkdir -p "$dir"
	rig_spawn versitygw env ROOT_ACCESS_KEY_ID="$RIG_S3_ACCESS_KEY" ROOT_SECRET_ACCESS_KEY="$RIG_S3_SECRET_KEY" \
		"$rig_bin/versitygw" --port "127.0.0.1:$port" --region "$RIG_S3_REGION" posix --disableotmp "$dir"
	S3_ENDPOINT="http://127.0.0.1:$port"
	for ((i = 0; i < 600; i++)); do
		# An anonymous request is refused with 403 once it is up.
		[[ $(curl -s -o /dev/null -w '%{http_code}' "$S3_ENDPOINT/" 2>/dev/null) == 403 ]] && return 0
		rig_alive "$(cat "$RIG_DIR/versitygw.pid")" || break
		sleep 0.1
	done
	echo "versitygw did not start; its log:" >&2
	tail -n 20 "$RIG_DIR/versitygw.log" >&2
	return 1
}

# create_bucket NAME creates a bucket on the versitygw of start_versitygw,
# with a SigV4-signed request.
create_bucket() {
	curl -sS --fail-with-body -X PUT --aws-sigv4 "aws:amz:$RIG_S3_REGION:s3" \
		--user "$RIG_S3_ACCESS_KEY:$RIG_S3_SECRET_KEY" -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' \
		"$S3_ENDPOINT/$1" >/dev/null
}
