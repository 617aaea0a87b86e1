#% params: UNIT HASH
systemctl daemon-reload
systemctl enable "$UNIT" 2>&1
echo "restarting $UNIT (files sha256 $HASH)"
systemctl restart "$UNIT"
