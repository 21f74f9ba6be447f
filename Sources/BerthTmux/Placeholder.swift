// BerthTmux
