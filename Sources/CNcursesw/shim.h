#ifndef BERTH_CNCURSESW_SHIM_H
#define BERTH_CNCURSESW_SHIM_H
// Wide-character curses: these must come before <ncurses.h> or cchar_t and the
// wide functions are missing.
#define NCURSES_WIDECHAR 1
#define _XOPEN_SOURCE_EXTENDED 1
#include <locale.h>
#include <ncursesw/ncurses.h>

// Macros and globals Swift cannot import (or rejects as shared mutable state).
static inline WINDOW *berth_stdscr(void) { return stdscr; }
static inline int berth_lines(void) { return LINES; }
static inline int berth_cols(void) { return COLS; }
static inline int berth_colors(void) { return COLORS; }
static inline int berth_color_pairs(void) { return COLOR_PAIRS; }
static inline attr_t berth_a_bold(void) { return A_BOLD; }
static inline attr_t berth_a_reverse(void) { return A_REVERSE; }
static inline attr_t berth_a_dim(void) { return A_DIM; }
static inline attr_t berth_a_underline(void) { return A_UNDERLINE; }
static inline attr_t berth_a_normal(void) { return A_NORMAL; }
static inline int berth_key_f(int n) { return KEY_F(n); }
static inline mmask_t berth_all_mouse_events(void) { return ALL_MOUSE_EVENTS | REPORT_MOUSE_POSITION; }
static inline mmask_t berth_button1_clicked(void) { return BUTTON1_CLICKED; }
static inline mmask_t berth_button1_pressed(void) { return BUTTON1_PRESSED; }
static inline mmask_t berth_button1_released(void) { return BUTTON1_RELEASED; }
static inline mmask_t berth_button1_double_clicked(void) { return BUTTON1_DOUBLE_CLICKED; }
static inline mmask_t berth_button4_pressed(void) { return BUTTON4_PRESSED; }
static inline mmask_t berth_button5_pressed(void) { return BUTTON5_PRESSED; }
static inline int berth_true(void) { return TRUE; }

#endif
