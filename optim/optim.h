// All of optim/ in one include: optimizers, gradient clipping, learning-rate schedules.
#pragma once

#include "optim/adam.h"
#include "optim/clip.h"
#include "optim/optimizer.h"
#include "optim/schedule.h"
#include "optim/sgd.h"
