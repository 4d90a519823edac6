/*
 * tm_exit on emulators: Arm semihosting SYS_EXIT_EXTENDED (operation 0x20)
 * with reason ADP_Stopped_ApplicationExit (0x20026) and `status` as the exit
 * code ("Semihosting for AArch32 and AArch64", Arm IHI 0073, 6.5 and 6.6).
 * On M-profile the call is BKPT 0xAB with the operation in r0 and a pointer
 * to the parameter block in r1. QEMU needs
 * -semihosting-config enable=on,target=native and then exits with status.
 */
#include "tm_board.h"

#define SYS_EXIT_EXTENDED 0x20u
#define ADP_STOPPED_APPLICATION_EXIT 0x20026u

void tm_exit(int32_t status) {
  static volatile uint32_t exiting;
  /* Without a semihosting host, BKPT is a HardFault, whose handler calls
   * tm_exit again: spin then instead of faulting inside the fault handler. */
  if (!exiting) {
    exiting = 1;
    const uint32_t block[2] = {ADP_STOPPED_APPLICATION_EXIT, (uint32_t)status};
    register uint32_t r0 __asm__("r0") = SYS_EXIT_EXTENDED;
    register const uint32_t *r1 __asm__("r1") = block;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
  }
  __asm__ volatile("cpsid i" ::: "memory");
  for (;;) {
  }
}
