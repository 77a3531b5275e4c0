#!/bin/sh
# Entrypoint wrapper of the docker-compose.yml services: refuses to start while a secret is
# empty or still holds the example value `change-me`, then runs the service's own command.
#   refuse-example-secrets.sh ENV_FILE VAR [VAR ...] -- command [args ...]
# ENV_FILE only names, in the message, the file to edit.
set -eu
file=$1
shift
refused=0
while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do
  name=$1
  shift
  case "$name" in *[!A-Za-z0-9_]* | '') echo "not a variable name: $name" >&2 && exit 2 ;; esac
  eval "value=\${$name-}"
  case "$value" in
    '' | *change-me*)
      echo "refusing to start: $name in $file is empty or still the example value change-me; set a secret of your own there and start again." >&2
      refused=1
      ;;
  esac
done
[ "$refused" = 0 ] || exit 1
[ "$#" -gt 0 ] && shift # the --
exec "$@"
