#!/bin/sh
# Prints what `make test` skipped because a peer program was missing, from
# the log internal/peers appends to (one "test<TAB>what<TAB>install" line
# per skip), and the one command that installs what they need. Silent when
# nothing was skipped.
log="$1"
[ -s "$log" ] || exit 0
total=$(wc -l < "$log" | tr -d ' ')
echo
echo "== $total test(s) skipped: a program they need is missing on this machine"
cut -f2 "$log" | sort | uniq -c | sort -rn | while read -r n what; do
  names=$(awk -F'\t' -v w="$what" '$2 == w { print $1 }' "$log" | sort -u | head -5 | paste -sd, - | sed 's/,/, /g')
  more=""
  [ "$n" -gt 5 ] && more=", ..."
  echo "   $what: $n ($names$more)"
done
pkgs=$(cut -f3 "$log" | sed -n 's/^apt-get install -y //p' | tr ' ' '\n' | sort -u | paste -sd' ' -)
others=$(cut -f3 "$log" | grep -v '^apt-get install -y ' | sort -u)
if [ -n "$pkgs" ]; then
  echo "Install them and run make test again:"
  echo "   sudo apt-get install -y $pkgs"
fi
[ -n "$others" ] && echo "$others" | sed 's/^/Also: /'
exit 0
