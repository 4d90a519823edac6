/*
 * STM32F7 clock tree from the board's [clock] table: HSE (crystal or bypass)
 * -> main PLL (M, N, P, Q) -> SYSCLK, voltage scale 1 and over-drive above
 * 180 MHz, flash wait states, AHB/APB prescalers, then the ART accelerator,
 * prefetch and the Cortex-M7 L1 instruction and data caches.
 *
 * The sequence follows RM0385 (STM32F75x/F74x; RM0410 is the same for the
 * F76x/F77x): "Entering Over-drive mode" in the PWR chapter, "Read access
 * latency" in the flash chapter, and the RCC, PWR and FLASH registers. Cache maintenance: Armv7-M
 * ARM (DDI 0403E) B2.2 and B3.2 (CCR, ICIALLU, DCISW) and B4.8 (CCSIDR,
 * CSSELR); Cortex-M7 TRM "Initializing and enabling the L1 cache".
 */
#include "tm_board.h"

#define TM_REG(addr) (*(volatile uint32_t *)(addr))

#define RCC_CR TM_REG(0x40023800u)
#define RCC_PLLCFGR TM_REG(0x40023804u)
#define RCC_CFGR TM_REG(0x40023808u)
#define RCC_APB1ENR TM_REG(0x40023840u)
#define PWR_CR1 TM_REG(0x40007000u)
#define PWR_CSR1 TM_REG(0x40007004u)
#define FLASH_ACR TM_REG(0x40023C00u)

#define SCB_CCR TM_REG(0xE000ED14u)
#define SCB_CCSIDR TM_REG(0xE000ED80u)
#define SCB_CSSELR TM_REG(0xE000ED84u)
#define SCB_ICIALLU TM_REG(0xE000EF50u)
#define SCB_DCISW TM_REG(0xE000EF60u)

#define CR_HSION (1u << 0)
#define CR_HSIRDY (1u << 1)
#define CR_HSEON (1u << 16)
#define CR_HSERDY (1u << 17)
#define CR_HSEBYP (1u << 18)
#define CR_PLLON (1u << 24)
#define CR_PLLRDY (1u << 25)

#define PLLCFGR_SRC_HSE (1u << 22)
#define PLLCFGR_FIELDS (0x3Fu | (0x1FFu << 6) | (0x3u << 16) | (1u << 22) | (0xFu << 24)) /* M N P SRC Q */

#define CFGR_SW_MASK 0x3u
#define CFGR_SW_HSI 0x0u
#define CFGR_SW_PLL 0x2u
#define CFGR_SWS_MASK (0x3u << 2)
#define CFGR_SWS_HSI (0x0u << 2)
#define CFGR_SWS_PLL (0x2u << 2)
#define CFGR_PRESCALERS ((0xFu << 4) | (0x7u << 10) | (0x7u << 13)) /* HPRE PPRE1 PPRE2 */

#define APB1ENR_PWREN (1u << 28)
#define PWR_CR1_VOS_MASK (0x3u << 14)
#define PWR_CR1_VOS_SCALE1 (0x3u << 14)
#define PWR_CR1_ODEN (1u << 16)
#define PWR_CR1_ODSWEN (1u << 17)
#define PWR_CSR1_ODRDY (1u << 16)
#define PWR_CSR1_ODSWRDY (1u << 17)

#define ACR_LATENCY_MASK 0xFu
#define ACR_PRFTEN (1u << 8)
#define ACR_ARTEN (1u << 9)
#define ACR_ARTRST (1u << 11)

#define CCR_DC (1u << 16)
#define CCR_IC (1u << 17)

/* Prescaler field encodings (RCC_CFGR). */
#define HPRE_BITS(div)                                                                                             \
  ((div) == 1 ? 0x0u : (div) == 2 ? 0x8u : (div) == 4 ? 0x9u : (div) == 8 ? 0xAu : (div) == 16 ? 0xBu              \
   : (div) == 64 ? 0xCu : (div) == 128 ? 0xDu : (div) == 256 ? 0xEu : 0xFu)
#define PPRE_BITS(div) ((div) == 1 ? 0x0u : (div) == 2 ? 0x4u : (div) == 4 ? 0x5u : (div) == 8 ? 0x6u : 0x7u)

#define VCO_IN_HZ (TM_BOARD_HSE_HZ / TM_BOARD_PLL_M)
#define VCO_OUT_HZ (VCO_IN_HZ * TM_BOARD_PLL_N)
#define HCLK_HZ (VCO_OUT_HZ / TM_BOARD_PLL_P / TM_BOARD_AHB_DIV)

/* The [clock] table must describe a clock tree RM0385 allows, and give the
 * clock the rest of board.h assumes. */
typedef char tm_check_m[TM_BOARD_PLL_M >= 2 && TM_BOARD_PLL_M <= 63 ? 1 : -1];
typedef char tm_check_vco_in[VCO_IN_HZ >= 1000000u && VCO_IN_HZ <= 2000000u ? 1 : -1];
typedef char tm_check_n[TM_BOARD_PLL_N >= 50 && TM_BOARD_PLL_N <= 432 ? 1 : -1];
typedef char tm_check_vco_out[VCO_OUT_HZ >= 100000000u && VCO_OUT_HZ <= 432000000u ? 1 : -1];
typedef char tm_check_p[TM_BOARD_PLL_P == 2 || TM_BOARD_PLL_P == 4 || TM_BOARD_PLL_P == 6 || TM_BOARD_PLL_P == 8 ? 1
                                                                                                                 : -1];
typedef char tm_check_q[TM_BOARD_PLL_Q >= 2 && TM_BOARD_PLL_Q <= 15 ? 1 : -1];
typedef char tm_check_hclk[HCLK_HZ == TM_BOARD_CLOCK_HZ && HCLK_HZ <= 216000000u ? 1 : -1];
typedef char tm_check_apb1[HCLK_HZ / TM_BOARD_APB1_DIV <= 54000000u ? 1 : -1];
typedef char tm_check_apb2[HCLK_HZ / TM_BOARD_APB2_DIV <= 108000000u ? 1 : -1];
typedef char tm_check_latency[TM_BOARD_FLASH_LATENCY >= 0 && TM_BOARD_FLASH_LATENCY <= 15 ? 1 : -1];

/* Waits on a status bit with a bound (about a second at the 16 MHz HSI): a
 * missing crystal must not hang the board silently. */
static void wait_bits(volatile uint32_t *reg, uint32_t mask, uint32_t value) {
  for (uint32_t n = 0; n < 4000000u; ++n) {
    if ((*reg & mask) == value) {
      return;
    }
  }
  tm_exit(TM_EXIT_CLOCK);
}

static void enable_caches(void) {
  __asm__ volatile("dsb\n\tisb" ::: "memory");
  SCB_ICIALLU = 0; /* invalidate the whole I-cache */
  __asm__ volatile("dsb\n\tisb" ::: "memory");
  SCB_CCR |= CCR_IC;
  __asm__ volatile("dsb\n\tisb" ::: "memory");

  SCB_CSSELR = 0; /* level 1 data cache */
  __asm__ volatile("dsb" ::: "memory");
  const uint32_t ccsidr = SCB_CCSIDR;
  const uint32_t line_shift = (ccsidr & 0x7u) + 4u; /* log2(bytes per line) */
  const uint32_t ways = ((ccsidr >> 3) & 0x3FFu) + 1u;
  const uint32_t sets = ((ccsidr >> 13) & 0x7FFFu) + 1u;
  uint32_t way_shift = 32u; /* 32 - log2(ways), rounded up */
  for (uint32_t w = ways - 1u; w != 0u; w >>= 1) {
    --way_shift;
  }
  for (uint32_t set = 0; set < sets; ++set) {
    for (uint32_t way = 0; way < ways; ++way) {
      SCB_DCISW = (set << line_shift) | (way_shift < 32u ? way << way_shift : 0u);
    }
  }
  __asm__ volatile("dsb" ::: "memory");
  SCB_CCR |= CCR_DC;
  __asm__ volatile("dsb\n\tisb" ::: "memory");
}

void tm_clock_init(void) {
  /* Run from the HSI while the PLL is (re)configured: a boot loader may
   * have left the PLL running, and VOS can only change with the PLL off. */
  RCC_CR |= CR_HSION;
  wait_bits(&RCC_CR, CR_HSIRDY, CR_HSIRDY);
  RCC_CFGR = (RCC_CFGR & ~CFGR_SW_MASK) | CFGR_SW_HSI;
  wait_bits(&RCC_CFGR, CFGR_SWS_MASK, CFGR_SWS_HSI);
  RCC_CR &= ~CR_PLLON;
  wait_bits(&RCC_CR, CR_PLLRDY, 0);

  RCC_APB1ENR |= APB1ENR_PWREN;
  (void)RCC_APB1ENR;
  PWR_CR1 = (PWR_CR1 & ~PWR_CR1_VOS_MASK) | PWR_CR1_VOS_SCALE1;

#if TM_BOARD_HSE_BYPASS
  RCC_CR |= CR_HSEBYP; /* an external clock on OSC_IN, not a crystal */
#endif
  RCC_CR |= CR_HSEON;
  wait_bits(&RCC_CR, CR_HSERDY, CR_HSERDY);

  RCC_PLLCFGR = (RCC_PLLCFGR & ~PLLCFGR_FIELDS) | (uint32_t)TM_BOARD_PLL_M | ((uint32_t)TM_BOARD_PLL_N << 6) |
                ((uint32_t)(TM_BOARD_PLL_P / 2 - 1) << 16) | PLLCFGR_SRC_HSE | ((uint32_t)TM_BOARD_PLL_Q << 24);
  RCC_CR |= CR_PLLON;

#if TM_BOARD_CLOCK_HZ > 180000000u
  /* Over-drive, entered while the PLL locks (RM0385 "Entering Over-drive mode"). */
  PWR_CR1 |= PWR_CR1_ODEN;
  wait_bits(&PWR_CSR1, PWR_CSR1_ODRDY, PWR_CSR1_ODRDY);
  PWR_CR1 |= PWR_CR1_ODSWEN;
  wait_bits(&PWR_CSR1, PWR_CSR1_ODSWRDY, PWR_CSR1_ODSWRDY);
#endif

  /* Wait states before the faster clock; the new value must read back. */
  FLASH_ACR = (FLASH_ACR & ~ACR_LATENCY_MASK) | (uint32_t)TM_BOARD_FLASH_LATENCY;
  wait_bits(&FLASH_ACR, ACR_LATENCY_MASK, (uint32_t)TM_BOARD_FLASH_LATENCY);

  RCC_CFGR = (RCC_CFGR & ~CFGR_PRESCALERS) | (HPRE_BITS(TM_BOARD_AHB_DIV) << 4) |
             (PPRE_BITS(TM_BOARD_APB1_DIV) << 10) | (PPRE_BITS(TM_BOARD_APB2_DIV) << 13);

  wait_bits(&RCC_CR, CR_PLLRDY, CR_PLLRDY);
  RCC_CFGR = (RCC_CFGR & ~CFGR_SW_MASK) | CFGR_SW_PLL;
  wait_bits(&RCC_CFGR, CFGR_SWS_MASK, CFGR_SWS_PLL);

  /* ART accelerator (reset it while it is off) and prefetch. */
  FLASH_ACR &= ~ACR_ARTEN;
  FLASH_ACR |= ACR_ARTRST;
  FLASH_ACR &= ~ACR_ARTRST;
  FLASH_ACR |= ACR_ARTEN | ACR_PRFTEN;

  enable_caches();
}

uint32_t tm_clock_hz(void) { return TM_BOARD_CLOCK_HZ; }
