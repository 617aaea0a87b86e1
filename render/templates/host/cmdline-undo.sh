record="$HOST_STATE/cmdline"
if [ -f "$record" ]; then
  while read -r file flag; do
    if [ -f "$file" ]; then
      sed -i "1 s| $flag\$||; 1 s| $flag | |" "$file"
    fi
  done < "$record"
  rm -f "$record"
fi
cleanup_state
