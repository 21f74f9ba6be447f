#ifndef BERTH_CNCURSESW_SHIM_H
#define BERTH_CNCURSESW_SHIM_H
// Wide-character curses: these must come before <ncurses.h> or cchar_t and the
// wide functions are missing.
#define NCURSES_WIDECHAR 1
#define _XOPEN_SOURCE_EXTENDED 1
#include <locale.h>
#include <langinfo.h>
#include <stdio.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <wchar.h>
#include <ncursesw/ncurses.h>

// Macros and globals Swift cannot import (or rejects as shared mutable state).
static inline WINDOW *berth_stdscr(void) { return stdscr; }
static inline WINDOW *berth_curscr(void) { return curscr; }
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
static inline mmask_t berth_button1_triple_clicked(void) { return BUTTON1_TRIPLE_CLICKED; }
static inline mmask_t berth_button4_pressed(void) { return BUTTON4_PRESSED; }
static inline mmask_t berth_button5_pressed(void) { return BUTTON5_PRESSED; }
static inline int berth_true(void) { return TRUE; }

// The C streams, for newterm (Swift 6 rejects the `stdin`/`stdout` globals).
static inline FILE *berth_stdin_file(void) { return stdin; }
static inline FILE *berth_stdout_file(void) { return stdout; }

// A line-drawing character from the terminal's alternate character set (ACS_* are
// macros over the `acs_map` global): used when the locale cannot show Unicode.
static inline chtype berth_acs(char code) { return NCURSES_ACS(code); }

// Whether the current LC_CTYPE encodes UTF-8 (call after setlocale).
static inline int berth_locale_is_utf8(void) {
  const char *codeset = nl_langinfo(CODESET);
  if (codeset == NULL) return 0;
  return (strcasecmp(codeset, "UTF-8") == 0 || strcasecmp(codeset, "UTF8") == 0) ? 1 : 0;
}

// The terminal's size in rows and columns from the kernel (ioctl is variadic, so Swift
// cannot call it). Returns 0 on success.
static inline int berth_terminal_size(int fd, int *rows, int *columns) {
  struct winsize size;
  if (ioctl(fd, TIOCGWINSZ, &size) != 0) return -1;
  *rows = size.ws_row;
  *columns = size.ws_col;
  return 0;
}

// Bytes waiting to be read on a descriptor (FIONREAD), or -1 when the descriptor
// cannot say (hung up, not a terminal or pipe): tells end-of-file from "no data yet".
static inline int berth_bytes_available(int fd) {
  int count = 0;
  if (ioctl(fd, FIONREAD, &count) != 0) return -1;
  return count;
}

// Columns a character takes, by the C library's tables (what curses lays out by).
// Declared here because <wchar.h> hides it unless _XOPEN_SOURCE is set everywhere.
extern int wcwidth(wchar_t);
static inline int berth_wcwidth(unsigned int scalar) { return wcwidth((wchar_t)scalar); }

// From <term.h>, declared here rather than included: term.h defines hundreds of
// lower-case capability macros (`lines`, `columns`, `bell`...) that would leak into
// every importer. The types are compatible (TERMINAL is `struct term`).
struct term;
extern int setupterm(const char *, int, int *);
extern struct term *set_curterm(struct term *);
extern int del_curterm(struct term *);
extern struct term *cur_term;

/// Outcome of `berth_probe_terminfo`.
enum {
  BERTH_TERMINFO_OK = 1,
  BERTH_TERMINFO_UNKNOWN = 0,
  BERTH_TERMINFO_NO_DATABASE = -1,
  BERTH_TERMINFO_NO_CURSOR_ADDRESSING = 2,
};

// Looks a terminal type up in terminfo without starting curses and without exiting
// the process (initscr exits on failure; setupterm with an error pointer does not).
// Checks for cursor addressing, without which no full-screen program can work.
// Leaves curses' current terminal as it was.
// Not thread-safe: it sets and frees the process-wide cur_term, so two calls at once free
// one terminal twice. Call it only through BerthTerminal's `Terminfo.probe`, which holds
// the lock every change of cur_term takes.
static inline int berth_probe_terminfo_unlocked(const char *name, int fd) {
  int status = 0;
  struct term *previous = cur_term;
  if (setupterm(name, fd, &status) != OK) {
    set_curterm(previous);
    return status == -1 ? BERTH_TERMINFO_NO_DATABASE : BERTH_TERMINFO_UNKNOWN;
  }
  struct term *probed = cur_term;
  char *cup = tigetstr("cup");
  int usable = (cup != NULL && cup != (char *)-1);
  set_curterm(previous);
  if (probed != previous) del_curterm(probed);
  return usable ? BERTH_TERMINFO_OK : BERTH_TERMINFO_NO_CURSOR_ADDRESSING;
}

#endif
